export {
  createSmtpTransport,
  type SmtpTransport,
  type SmtpTransportOptions,
  smtpFailure,
} from "./smtp-transport.ts";
