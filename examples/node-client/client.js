// Cairn from Node.js: log a run through cairn.v1.Ingest, read it back through cairn.v1.Query.
//
// No generated code: @grpc/proto-loader reads the contract's .proto files (proto/cairn/v1) at
// start-up, which is the point of this example: the gRPC contract is the product, the Python SDK
// is one client of it.
//
//   CAIRN_INGEST_URL=127.0.0.1:50051 CAIRN_API_KEY=cairn_... CAIRN_TEAM=local \
//   CAIRN_PROJECT=node-demo node client.js
//
// Prints one JSON line describing the run as the query service returned it; exits 1 on failure.
"use strict";

const crypto = require("node:crypto");
const path = require("node:path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const PROTO_ROOT = process.env.CAIRN_PROTO_ROOT || path.resolve(__dirname, "..", "..", "proto");

function loadContract() {
  const definition = protoLoader.loadSync(
    ["cairn/v1/ingest.proto", "cairn/v1/query.proto"],
    { includeDirs: [PROTO_ROOT], keepCase: true, longs: String, enums: String, defaults: true, oneofs: true },
  );
  return grpc.loadPackageDefinition(definition).cairn.v1;
}

// A UUIDv7 (ingest requires them for event ids): 48 bits of Unix milliseconds, then random.
function uuid7() {
  const bytes = crypto.randomBytes(16);
  const millis = BigInt(Date.now());
  for (let i = 0; i < 6; i++) bytes[i] = Number((millis >> BigInt(8 * (5 - i))) & 0xffn);
  bytes[6] = (bytes[6] & 0x0f) | 0x70;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function call(client, method, request, metadata) {
  return new Promise((resolve, reject) => {
    client[method](request, metadata, { deadline: Date.now() + 30_000 }, (error, reply) =>
      error ? reject(error) : resolve(reply),
    );
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const address = process.env.CAIRN_INGEST_URL || "127.0.0.1:50051";
  const key = process.env.CAIRN_API_KEY;
  const team = process.env.CAIRN_TEAM;
  const project = process.env.CAIRN_PROJECT || "node-demo";
  if (!key || !team) throw new Error("set CAIRN_API_KEY and CAIRN_TEAM");

  const v1 = loadContract();
  const credentials = grpc.credentials.createInsecure();
  const ingest = new v1.Ingest(address, credentials);
  const query = new v1.Query(address, credentials);
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${key}`);

  const runId = uuid7();
  let sequence = 0;
  const event = (payload) => {
    sequence += 1;
    const now = BigInt(Date.now()) * 1_000_000n + BigInt(sequence);
    return {
      envelope: {
        event_id: uuid7(),
        schema_version: 1,
        aggregate_kind: "AGGREGATE_KIND_RUN",
        aggregate_id: runId,
        sequence,
        occurred_at_ns: now.toString(),
        team,
        project,
      },
      ...payload,
    };
  };
  const steps = [0, 1, 2, 3, 4];
  const batch = {
    batch_id: 1,
    events: [
      event({ run_created: { name: "from-node", owner: "node-example", command_line: ["node", "client.js"] } }),
      event({ params_set: { params: [
        { key: "lr", value: { double_value: 0.01 } },
        { key: "optimizer", value: { string_value: "adam" } },
      ] } }),
      event({ tags_set: { tags: [{ key: "client", value: "node" }] } }),
      event({ metrics: { series: [{
        key: "loss",
        steps,
        values: steps.map((s) => 1 / (s + 1)),
        timestamps_ns: steps.map((s) => (BigInt(Date.now()) * 1_000_000n + BigInt(s)).toString()),
      }] } }),
      event({ run_status_changed: { status: "RUN_STATUS_FINISHED" } }),
    ],
  };
  const ack = await call(ingest, "Append", batch, metadata);
  if (ack.rejection) throw new Error(`ingest rejected the batch: ${ack.rejection.message}`);

  // The run is readable once the processors projected it (usually well under a second).
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const { run } = await call(query, "GetRun", { run_id: runId }, metadata);
      const loss = run.metrics.find((m) => m.key === "loss");
      if (run.info.status === "finished" && loss && Number(loss.count) === steps.length) {
        const params = Object.fromEntries(
          Object.entries(run.params).map(([k, v]) => [k, v[v.kind]]),
        );
        console.log(JSON.stringify({
          run_id: run.info.run_id,
          name: run.info.name,
          team: run.info.team,
          project: run.info.project,
          status: run.info.status,
          params,
          tags: run.tags,
          loss_last: loss.last,
          loss_points: Number(loss.count),
          accepted_events: ack.accepted_events,
        }));
        return;
      }
    } catch (error) {
      if (error.code !== grpc.status.NOT_FOUND) throw error;
    }
    if (Date.now() > deadline) throw new Error(`run ${runId} was not readable within 60 s`);
    await sleep(300);
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`cairn node client: ${error.message}`);
    process.exit(1);
  },
);
