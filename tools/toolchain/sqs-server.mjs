// Local SQS stand-in for the Leadluence dev stack (see tools/devstack).
//
// Usage: node sqs-server.mjs [port]        (or SQS_PORT=<port> node sqs-server.mjs)
//
// Listens on 127.0.0.1 only. Speaks both the SQS JSON and Query protocols.
// Queue URLs look like http://127.0.0.1:<port>/123456789012/<name>.
import { createSqsServer } from "local-aws-sqs";

const raw = process.argv[2] ?? process.env.SQS_PORT ?? "";
const port = Number.parseInt(raw, 10);
if (!Number.isInteger(port) || port < 0 || port > 65535 || String(port) !== raw.trim()) {
  console.error(`sqs-server: invalid port ${JSON.stringify(raw)}; pass it as the first argument or SQS_PORT`);
  process.exit(2);
}

const server = await createSqsServer({
  port,
  hostname: "127.0.0.1",
  region: "us-east-1",
  // Tests and the local runner delete and recreate queues freely; AWS's 60 s wait would only slow them down.
  emulateQueueCreationLifecycle: false,
});

server.on("error", (err) => {
  console.error("sqs-server:", err);
  process.exit(1);
});

const addr = server.address();
console.log(`sqs-server: listening on http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : port}`);

const shutdown = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections(); // long polls would otherwise hold the close open
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
