"""aiosmtpd handler for test/integration/smtp.test.ts.

A Maildir mailbox (aiosmtpd.handlers.Mailbox) that answers some recipients the way real servers
do, so the SMTP adapter's failure mapping is tested against a real SMTP dialogue:

- reject@...  -> 550 (permanent: mailbox unavailable)
- busy@...    -> 451 (transient: greylisting / try again later)
"""

from aiosmtpd.handlers import Mailbox


class RejectingMailbox(Mailbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local == "reject":
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        if local == "busy":
            return "451 4.7.1 <%s>: Greylisted, please try again later" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"
