// A small Leadluence API client for web apps, typed by the types
// openapi-typescript generates from the API's OpenAPI document (./api, made
// by the test beside this file; never edited by hand). It signs in and
// creates a lead. If the document changes in a way that breaks it (a field
// renamed, a status code gone), `tsc --noEmit` fails in `make test`.
import type { components, paths } from "./api";

type JSONBody<T> = T extends { content: { "application/json": infer B } } ? B : never;

export type LoginIn = JSONBody<paths["/v1/auth/login"]["post"]["requestBody"]>;
export type LoginOut = JSONBody<paths["/v1/auth/login"]["post"]["responses"]["200"]>;
export type MFAIn = JSONBody<paths["/v1/auth/mfa"]["post"]["requestBody"]>;
export type Tokens = JSONBody<paths["/v1/auth/mfa"]["post"]["responses"]["200"]>;
export type LeadIn = JSONBody<paths["/v1/leads"]["post"]["requestBody"]>;
export type Lead = JSONBody<paths["/v1/leads"]["post"]["responses"]["201"]>;
export type Problem = components["schemas"]["Problem"];

/** ApiError is a problem (RFC 9457) the API answered with. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem,
  ) {
    super(`${status} ${problem.code ?? ""}: ${problem.detail ?? problem.title ?? ""}`);
  }
}

/** Client calls the API at baseURL (the document's server "/"). */
export class Client {
  private accessToken?: string;

  constructor(
    private readonly baseURL: string,
    private readonly fetchFn: typeof fetch = fetch,
  ) {}

  /**
   * signIn logs in and keeps the access token for the next calls. A user
   * with two-factor sign-in gets a challenge instead of tokens: totp is
   * asked for its code (or a recovery code) to complete the login.
   */
  async signIn(body: LoginIn, totp?: () => Promise<string>): Promise<LoginOut> {
    const out = await this.call<LoginOut>("POST", "/v1/auth/login", body, 200);
    if (out.mfa_required) {
      if (!out.challenge || !totp) throw new Error("two-factor sign-in required");
      const mfa: MFAIn = { challenge: out.challenge, code: await totp() };
      return this.keep(await this.call<Tokens>("POST", "/v1/auth/mfa", mfa, 200));
    }
    return this.keep(out);
  }

  private keep<T extends { access_token?: string }>(tokens: T): T {
    if (!tokens.access_token) throw new Error("the login answered no access token");
    this.accessToken = tokens.access_token;
    return tokens;
  }

  /** createLead creates a lead in the caller's organisation. */
  async createLead(body: LeadIn, idempotencyKey?: string): Promise<Lead> {
    const headers: Record<string, string> = {};
    if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
    return this.call<Lead>("POST", "/v1/leads", body, 201, headers);
  }

  private async call<T>(method: string, path: string, body: unknown, ok: number, extra: Record<string, string> = {}): Promise<T> {
    const headers: Record<string, string> = { "Content-Type": "application/json", ...extra };
    if (this.accessToken) headers.Authorization = `Bearer ${this.accessToken}`;
    const resp = await this.fetchFn(this.baseURL + path, { method, headers, body: JSON.stringify(body) });
    if (resp.status !== ok) {
      throw new ApiError(resp.status, (await resp.json()) as Problem);
    }
    return (await resp.json()) as T;
  }
}

/** example signs in as the demo owner of make dev and creates a lead. */
export async function example(baseURL: string): Promise<string> {
  const api = new Client(baseURL);
  const tokens = await api.signIn({ email: "owner@demo.leadluence.local", password: "demo-password-123" });
  const lead = await api.createLead({ name: "Meera Iyer", phone: "98450 12345", email: "meera@example.com", tags: ["website"] });
  return `${tokens.org?.name ?? "?"}: lead ${lead.id} (${lead.status}), version ${lead.version}`;
}
