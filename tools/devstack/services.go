package devstack

import (
	"os/exec"
	"path/filepath"
	"strconv"
)

// dynamoSpec runs the DynamoDB Local jar directly with java. It has no
// option to choose the bind address and listens on 0.0.0.0:port.
// -sharedDb makes every client see the same tables whatever its credentials
// and region, so a CLI or a second process sees what the tests wrote.
func dynamoSpec(t tools, dirs layout, port int) serviceSpec {
	return serviceSpec{
		name:    "dynamodb",
		port:    port,
		logPath: logPath(dirs, "dynamodb"),
		command: func(port int) *exec.Cmd {
			args := []string{
				// Fast start matters more than peak throughput here.
				"-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
				"-Djava.library.path=" + filepath.Join(t.dynamoDir, "DynamoDBLocal_lib"),
				"-jar", filepath.Join(t.dynamoDir, "DynamoDBLocal.jar"),
				"-port", strconv.Itoa(port),
				"-disableTelemetry",
				"-sharedDb",
			}
			if dirs.dynamodb == "" {
				args = append(args, "-inMemory")
			} else {
				args = append(args, "-dbPath", dirs.dynamodb)
			}
			cmd := exec.Command(t.java, args...)
			cmd.Dir = dirs.work
			cmd.Env = childEnv()
			return cmd
		},
		probePath: "/",
		target:    "DynamoDB_20120810.ListTables",
		jsonType:  "application/x-amz-json-1.0",
		want:      "TableNames",
	}
}

// sqsSpec runs tools/toolchain/sqs-server.mjs (local-aws-sqs on
// 127.0.0.1).
func sqsSpec(t tools, dirs layout, port int) serviceSpec {
	return serviceSpec{
		name:    "sqs",
		port:    port,
		logPath: logPath(dirs, "sqs"),
		command: func(port int) *exec.Cmd {
			cmd := exec.Command(t.node, filepath.Join(t.toolchain, "sqs-server.mjs"), strconv.Itoa(port))
			cmd.Dir = t.toolchain
			cmd.Env = childEnv("AWS_REGION=" + region)
			return cmd
		},
		probePath: "/",
		target:    "AmazonSQS.ListQueues",
		jsonType:  "application/x-amz-json-1.0",
		want:      "{",
	}
}

// kmsSpec runs local-kms through kmsloopback, on 127.0.0.1:PORT. Keys live
// in KMS_DATA_PATH.
func kmsSpec(t tools, dirs layout, port int) serviceSpec {
	return serviceSpec{
		name:    "kms",
		port:    port,
		logPath: logPath(dirs, "kms"),
		command: func(port int) *exec.Cmd {
			cmd := exec.Command(t.localKMS)
			cmd.Dir = dirs.work
			cmd.Env = childEnv(
				"PORT="+strconv.Itoa(port),
				"KMS_REGION="+region,
				"KMS_ACCOUNT_ID="+kmsAccountID,
				"KMS_DATA_PATH="+dirs.kms,
			)
			return cmd
		},
		probePath: "/",
		target:    "TrentService.ListKeys",
		jsonType:  "application/x-amz-json-1.1",
		want:      "Keys",
	}
}

// sesSpec runs aws-ses-v2-local on 127.0.0.1. SMTP_TRANSPORT is removed from
// its environment so it never relays mail anywhere.
func sesSpec(t tools, dirs layout, port int) serviceSpec {
	return serviceSpec{
		name:    "ses",
		port:    port,
		logPath: logPath(dirs, "ses"),
		command: func(port int) *exec.Cmd {
			cmd := exec.Command(t.node,
				filepath.Join(t.toolchain, "node_modules", "aws-ses-v2-local", "dist", "cli.js"),
				"--host", "127.0.0.1", "--port", strconv.Itoa(port))
			cmd.Dir = t.toolchain
			cmd.Env = childEnv()
			return cmd
		},
		probePath: "/health-check",
		need2xx:   true,
	}
}
