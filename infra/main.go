// Command infra is the CDK app of the Leadluence backend. It builds the
// stack from topology.Default(), runs the cdk-nag AwsSolutions checks over it
// and exits non-zero when a finding is left unsuppressed, so `cdk synth` and
// `make synth` fail on it.
//
// infra/ is a Go module of its own, so the CDK's dependencies stay out of the
// product module. cdk.json builds this command into .cache/bin (its "build"
// step, `go build -C infra`) and runs it from the repository root, where the
// functions' bootstraps are (bin/<fn>) and where the CLI expects cdk.out.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/leadluence/backend/infra/stack"
	"github.com/leadluence/backend/infra/topology"
)

func main() {
	code := 0
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		code = 1
	}
	jsii.Close()
	os.Exit(code)
}

func run() error {
	topo := topology.Default()
	if err := stack.Validate(topo); err != nil {
		return fmt.Errorf("topology: %w", err)
	}
	if err := checkAssets(topo); err != nil {
		return err
	}

	app := awscdk.NewApp(nil)
	stack.Nag(app)
	stack.New(app, topo.Name, &stack.Props{
		StackProps: awscdk.StackProps{Env: env()},
		Topology:   topo,
	})
	app.Synth(nil)

	if findings := stack.Findings(app); len(findings) > 0 {
		for _, f := range findings {
			fmt.Fprintln(os.Stderr, f)
		}
		return fmt.Errorf("%d unsuppressed cdk-nag finding(s): fix them or add a suppression with a reason in infra/stack", len(findings))
	}
	return nil
}

// env pins the stack to CDK_DEFAULT_ACCOUNT/CDK_DEFAULT_REGION when the CLI
// provides them, and leaves it environment-agnostic otherwise.
func env() *awscdk.Environment {
	account, region := os.Getenv("CDK_DEFAULT_ACCOUNT"), os.Getenv("CDK_DEFAULT_REGION")
	if account == "" && region == "" {
		return nil
	}
	e := &awscdk.Environment{}
	if account != "" {
		e.Account = jsii.String(account)
	}
	if region != "" {
		e.Region = jsii.String(region)
	}
	return e
}

// checkAssets fails early, with the fix, when a function's bootstrap has not
// been built yet: CDK's own error is a bare "cannot find asset".
func checkAssets(topo topology.Stack) error {
	var errs []error
	for _, fn := range topo.Functions {
		path := filepath.Join(stack.DefaultAssetDir(fn), "bootstrap")
		if _, err := os.Stat(path); err != nil {
			errs = append(errs, fmt.Errorf("function %s: %w (run `make build` first)", fn.Name, err))
		}
	}
	return errors.Join(errs...)
}
