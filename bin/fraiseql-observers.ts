#!/usr/bin/env node
// The command-line tool: server commands over the REST API and the live stream, observers as
// code, and offline condition checks. Commands live in bin/cli/ (docs/cli.md).
import { main } from "./cli/main.ts";

process.exitCode = await main(process.argv.slice(2));
