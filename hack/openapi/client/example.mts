// A CRM service in TypeScript, calling crmauthz through a client generated from the
// OpenAPI document (openapi-typescript types, openapi-fetch calls). CI generates
// schema.d.ts, type-checks this file strictly and runs it against `crmauthz serve
// --policies config/samples` (hack/openapi-check.sh): a field renamed in the document
// breaks the compile, a changed answer breaks the run.
//
// usage: node example.mjs SERVER_URL
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type CheckResponse = components["schemas"]["CheckResponse"];

const crmauthz = createClient<paths>({ baseUrl: process.argv[2] });
let calls = 0;

function expect(ok: unknown, what: string): asserts ok {
  calls++;
  if (!ok) {
    console.error(`typescript client: FAIL: ${what}`);
    process.exit(1);
  }
}

const subject = { user: "u-15", role: "SalesUser" } as const;

async function canEdit(owner: string): Promise<CheckResponse> {
  const { data, error, response } = await crmauthz.POST("/v1/check", {
    body: { tenant: "acme", subject, action: "edit", resource: { entity: "leads", id: "L-1", owner }, fields: ["Stage"] },
  });
  expect(data, `POST /v1/check: ${response.status} ${JSON.stringify(error)}`);
  return data;
}

const own = await canEdit("u-15");
expect(own.allowed && own.reason === "Allowed", `own lead: ${JSON.stringify(own)}`);
const other = await canEdit("u-16");
expect(!other.allowed && other.reason === "OutOfScope" && other.deniedFields.length === 0, `u-16's lead: ${JSON.stringify(other)}`);

const batch = await crmauthz.POST("/v1/checks", {
  body: { tenant: "acme", subject, checks: [{ action: "view", resource: { entity: "leads", owner: "u-16" } }, { action: "access", resource: { feature: "Reports" } }] },
});
expect(batch.data?.results.length === 2, `POST /v1/checks: ${JSON.stringify(batch.error)}`);

const bad = await crmauthz.POST("/v1/check", {
  body: { tenant: "acme", subject: { user: "u-15", role: "Boss" as "SalesUser" }, action: "view", resource: { entity: "leads" } },
});
expect(bad.response.status === 400 && bad.error?.error.field === "subject.role", `a bad role: ${JSON.stringify(bad.error)}`);

const plan = await crmauthz.POST("/v1/filter", { body: { tenant: "acme", subject, action: "view", entity: "leads" } });
expect(plan.data && ["All", "None", "Conditional"].includes(plan.data.kind), `POST /v1/filter: ${JSON.stringify(plan.error)}`);

// The same question in AuthZEN's shapes, answered the same.
const az = await crmauthz.POST("/tenants/{tenant}/access/v1/evaluation", {
  params: { path: { tenant: "acme" } },
  body: {
    subject: { type: "user", id: "u-15", properties: { role: "SalesUser" } },
    action: { name: "edit" },
    resource: { type: "leads", id: "L-1", properties: { owner: "u-16", fields: ["Stage"] } },
  },
});
expect(az.data?.decision === other.allowed && az.data?.context?.reason_admin.reason === other.reason, `AuthZEN: ${JSON.stringify(az)}`);
const md = await crmauthz.GET("/.well-known/authzen-configuration/tenants/{tenant}", { params: { path: { tenant: "acme" } } });
expect(md.data?.access_evaluation_endpoint.endsWith("/tenants/acme/access/v1/evaluation"), `metadata: ${JSON.stringify(md.error)}`);

console.log(`typescript client: ${calls} checks passed`);
