// Package params gives functions their deploy-time parameters locally (the
// Meta app secret and verify token, the Meta app id, the public base URL), as `cdk deploy -c` does in the cloud:
// each value comes from an environment variable or a dev default and, when
// the param has a purpose, is encrypted under the local KMS key with
// shared/secret, so the function opens it exactly as in Lambda.
package params

import (
	"context"
	"fmt"
	"os"

	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/meta/metatest"
	"github.com/leadluence/backend/shared/secret"
)

// Source says where `make dev` and `make invoke` take a deploy-time
// parameter's value from:
// the environment variable From, or Default when it is unset.
type Source struct {
	From, Default string
}

// Sources has an entry for every topology Param. A param added to the
// topology must be added here too; Fill refuses to start otherwise.
var Sources = map[string]Source{
	topology.EnvMetaAppSecretCiphertext:   {From: "LEADLUENCE_META_APP_SECRET", Default: "dev-app-secret"},
	topology.EnvMetaVerifyTokenCiphertext: {From: "LEADLUENCE_META_VERIFY_TOKEN", Default: "dev-verify-token"},
	// The Meta simulator's app (make dev runs metatest with its default).
	topology.EnvMetaAppID: {From: topology.EnvMetaAppID, Default: metatest.DefaultAppID},
	// The api as make dev serves it (tools/dev -addr).
	topology.EnvPublicBaseURL: {From: topology.EnvPublicBaseURL, Default: "http://127.0.0.1:8080"},
	// The web app is not part of this repository: links in mail to users
	// point at one served locally, if any.
	topology.EnvAppBaseURL: {From: topology.EnvAppBaseURL, Default: "http://127.0.0.1:3000"},
	// The HTTP API's allowed browser origins (not a function's param): a
	// web app's dev server (Vite's default port).
	topology.EnvCORSAllowedOrigins: {From: topology.EnvCORSAllowedOrigins, Default: "http://localhost:5173"},
}

// Lookup is the value in force of a param that is no function's, such as
// topology.CORSOriginsParam: from its Sources source, never encrypted.
func Lookup(p topology.Param) (Value, error) {
	src, ok := Sources[p.Env]
	if !ok {
		return Value{}, fmt.Errorf("param %s has no local value: add it to Sources in tools/dev/params", p.Env)
	}
	v := Value{Source: src, Value: src.Default}
	if s, ok := os.LookupEnv(src.From); ok && s != "" {
		v.Value = s
	}
	v.Env = v.Value
	return v, nil
}

// Value is the value in force of one param: the plaintext, and what the
// function's environment gets (the ciphertext, for a param with a Purpose).
type Value struct {
	Source
	Value string
	Env   string
}

// Fill sets every function's deploy-time parameters in the process
// environment, as `cdk deploy -c` does in the cloud: each value is read from
// its Sources source and, for a param with a Purpose, encrypted under the
// local key with shared/secret, so functions open it exactly as in Lambda.
// It returns the values in force by param name, for printing.
func Fill(ctx context.Context, keys secret.KMSEncrypter, st topology.Stack, keyID string) (map[string]Value, error) {
	out := map[string]Value{}
	for _, fn := range st.Functions {
		for _, p := range fn.Params {
			src, ok := Sources[p.Env]
			if !ok {
				return nil, fmt.Errorf("function %s: param %s has no local value: add it to Sources in tools/dev/params", fn.Name, p.Env)
			}
			v := Value{Source: src, Value: src.Default}
			if s, ok := os.LookupEnv(src.From); ok && s != "" {
				v.Value = s
			}
			env := v.Value
			if p.Purpose != "" {
				ct, err := secret.Encrypt(ctx, keys, keyID, p.Purpose, []byte(v.Value))
				if err != nil {
					return nil, fmt.Errorf("param %s (from %s): %w", p.Env, src.From, err)
				}
				env = ct
			}
			if err := os.Setenv(p.Env, env); err != nil {
				return nil, fmt.Errorf("set %s: %w", p.Env, err)
			}
			v.Env = env
			out[p.Env] = v
		}
	}
	return out, nil
}
