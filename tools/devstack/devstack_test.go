package devstack_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/leadluence/backend/tools/devstack"
)

// helperEnv switches the test binary into a helper role for the tests that
// need a separate process (see TestMain).
const helperEnv = "DEVSTACK_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "orphan":
		os.Exit(orphanHelper())
	case "runtests":
		os.Exit(devstack.RunTests(m))
	}
	os.Exit(m.Run())
}

// orphanHelper starts a stack, reports its pids and endpoints on stdout as
// one JSON line, and waits to be killed.
func orphanHelper() int {
	s, err := devstack.Start(context.Background(), devstack.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	b, _ := json.Marshal(helperReport{PIDs: devstack.PIDs(s), Endpoints: endpoints(s), TempDir: devstack.TempDir(s)})
	fmt.Printf("%s\n", b)
	select {}
}

type helperReport struct {
	PIDs      []int
	Endpoints []string
	TempDir   string
}

func endpoints(s *devstack.Stack) []string { return []string{s.DynamoDB, s.SQS, s.KMS, s.SES} }

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// start starts a stack and registers its Stop as cleanup.
func start(t *testing.T, opts devstack.Options) *devstack.Stack {
	t.Helper()
	opts.Progress = testLog{t}
	begin := time.Now()
	s, err := devstack.Start(testContext(t), opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("Start took %s: dynamodb=%s sqs=%s kms=%s ses=%s", time.Since(begin).Round(time.Millisecond), s.DynamoDB, s.SQS, s.KMS, s.SES)
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// awsConfig points the SDK at s through the environment only, the way
// production code will see it.
func awsConfig(t *testing.T, s *devstack.Stack) aws.Config {
	t.Helper()
	for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"} {
		t.Setenv(k, "") // restores it afterwards
		os.Unsetenv(k)
	}
	for k, v := range s.Env() {
		t.Setenv(k, v)
	}
	cfg, err := config.LoadDefaultConfig(testContext(t))
	if err != nil {
		t.Fatalf("LoadDefaultConfig: %v", err)
	}
	return cfg
}

func TestStartEphemeral(t *testing.T) {
	s := start(t, devstack.Options{})
	ctx := testContext(t)

	for _, ep := range endpoints(s) {
		if !strings.HasPrefix(ep, "http://127.0.0.1:") {
			t.Errorf("endpoint %q is not on 127.0.0.1", ep)
		}
	}
	env := s.Env()
	want := map[string]string{
		"AWS_ENDPOINT_URL_DYNAMODB": s.DynamoDB,
		"AWS_ENDPOINT_URL_SQS":      s.SQS,
		"AWS_ENDPOINT_URL_KMS":      s.KMS,
		"AWS_ENDPOINT_URL_SESV2":    s.SES,
		"AWS_REGION":                "us-east-1",
		"AWS_EC2_METADATA_DISABLED": "true",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("Env()[%s] = %q, want %q", k, env[k], v)
		}
	}
	if env["AWS_ACCESS_KEY_ID"] == "" || env["AWS_SECRET_ACCESS_KEY"] == "" {
		t.Errorf("Env() lacks dummy credentials: %v", env)
	}

	cfg := awsConfig(t, s)

	t.Run("dynamodb", func(t *testing.T) {
		db := dynamodb.NewFromConfig(cfg)
		createTable(ctx, t, db, "ephemeral")
		putItem(ctx, t, db, "ephemeral", "lead#1", "Ada")
		if got := getItem(ctx, t, db, "ephemeral", "lead#1"); got != "Ada" {
			t.Errorf("GetItem name = %q, want Ada", got)
		}
	})

	t.Run("sqs", func(t *testing.T) {
		q := sqs.NewFromConfig(cfg)
		created, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("intake")})
		if err != nil {
			t.Fatalf("CreateQueue: %v", err)
		}
		if u := aws.ToString(created.QueueUrl); !strings.HasPrefix(u, s.SQS+"/") {
			t.Errorf("QueueUrl = %q, want it under %s", u, s.SQS)
		}
		if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: created.QueueUrl, MessageBody: aws.String(`{"hello":"world"}`)}); err != nil {
			t.Fatalf("SendMessage: %v", err)
		}
		got, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: created.QueueUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatalf("ReceiveMessage: %v", err)
		}
		if len(got.Messages) != 1 || aws.ToString(got.Messages[0].Body) != `{"hello":"world"}` {
			t.Fatalf("ReceiveMessage = %+v, want the message sent", got.Messages)
		}
		if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: created.QueueUrl, ReceiptHandle: got.Messages[0].ReceiptHandle}); err != nil {
			t.Fatalf("DeleteMessage: %v", err)
		}
		// emulateQueueCreationLifecycle is off: delete and recreate at once.
		if _, err := q.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: created.QueueUrl}); err != nil {
			t.Fatalf("DeleteQueue: %v", err)
		}
		if _, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("intake")}); err != nil {
			t.Fatalf("CreateQueue after DeleteQueue: %v", err)
		}
	})

	t.Run("kms", func(t *testing.T) {
		k := kms.NewFromConfig(cfg)
		key, err := k.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("devstack test")})
		if err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
		if arn := aws.ToString(key.KeyMetadata.Arn); !strings.Contains(arn, ":us-east-1:111122223333:") {
			t.Errorf("key ARN = %q, want region us-east-1 and account 111122223333", arn)
		}
		ec := map[string]string{"org": "org_1"}
		dk, err := k.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: key.KeyMetadata.KeyId, KeySpec: kmstypes.DataKeySpecAes256, EncryptionContext: ec})
		if err != nil {
			t.Fatalf("GenerateDataKey: %v", err)
		}
		if len(dk.Plaintext) != 32 {
			t.Fatalf("data key is %d bytes, want 32", len(dk.Plaintext))
		}
		dec, err := k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: ec})
		if err != nil {
			t.Fatalf("Decrypt: %v", err)
		}
		if !bytes.Equal(dec.Plaintext, dk.Plaintext) {
			t.Errorf("Decrypt returned a different key")
		}
		_, err = k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: map[string]string{"org": "org_2"}})
		var invalid *kmstypes.InvalidCiphertextException
		if !errors.As(err, &invalid) {
			t.Errorf("Decrypt with another encryption context: err = %v, want InvalidCiphertextException", err)
		}
	})

	t.Run("sesv2", func(t *testing.T) {
		ses := sesv2.NewFromConfig(cfg)
		out, err := ses.SendEmail(ctx, &sesv2.SendEmailInput{
			FromEmailAddress: aws.String("noreply@leadluence.test"),
			Destination:      &sestypes.Destination{ToAddresses: []string{"lead@example.test"}},
			Content: &sestypes.EmailContent{Simple: &sestypes.Message{
				Subject: &sestypes.Content{Data: aws.String("devstack subject")},
				Body:    &sestypes.Body{Text: &sestypes.Content{Data: aws.String("hello")}},
			}},
		})
		if err != nil {
			t.Fatalf("SendEmail: %v", err)
		}
		if aws.ToString(out.MessageId) == "" {
			t.Errorf("SendEmail returned no MessageId")
		}
		resp, err := http.Get(s.SES + "/store")
		if err != nil {
			t.Fatalf("GET /store: %v", err)
		}
		defer resp.Body.Close()
		var store struct {
			Emails []struct{ Subject string } `json:"emails"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&store); err != nil {
			t.Fatalf("decode /store: %v", err)
		}
		if len(store.Emails) != 1 || store.Emails[0].Subject != "devstack subject" {
			t.Errorf("SES store = %+v, want the one email sent", store.Emails)
		}
	})

	t.Run("sesv2 identities", func(t *testing.T) { testSESIdentities(ctx, t, s, sesv2.NewFromConfig(cfg)) })

	pids := devstack.PIDs(s)
	if len(pids) != 4 {
		t.Fatalf("PIDs = %v, want 4", pids)
	}
	tmp := devstack.TempDir(s)
	begin := time.Now()
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	t.Logf("Stop took %s", time.Since(begin).Round(time.Millisecond))
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d still alive after Stop", pid)
		}
	}
	assertPortsClosed(t, endpoints(s))
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp dir %s still there after Stop (stat: %v)", tmp, err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestStartPersistent(t *testing.T) {
	dir := t.TempDir()
	ctx := testContext(t)

	s1 := start(t, devstack.Options{DataDir: dir})
	cfg := awsConfig(t, s1)
	db := dynamodb.NewFromConfig(cfg)
	createTable(ctx, t, db, "persistent")
	putItem(ctx, t, db, "persistent", "lead#42", "Grace")
	k := kms.NewFromConfig(cfg)
	key, err := k.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	ec := map[string]string{"org": "org_42"}
	enc, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("page token"), EncryptionContext: ec})
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	if err := s1.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	for _, sub := range []string{"dynamodb", "kms", "logs/dynamodb.log", "logs/sqs.log", "logs/kms.log", "logs/ses.log"} {
		if _, err := os.Stat(filepath.Join(dir, sub)); err != nil {
			t.Errorf("after Stop: %v", err)
		}
	}

	// Second start on fixed ports, to cover Options.Ports as well.
	ports := devstack.Ports{DynamoDB: freePort(t), SQS: freePort(t), KMS: freePort(t), SES: freePort(t)}
	s2 := start(t, devstack.Options{DataDir: dir, Ports: ports})
	for i, p := range []int{ports.DynamoDB, ports.SQS, ports.KMS, ports.SES} {
		if want := "http://127.0.0.1:" + strconv.Itoa(p); endpoints(s2)[i] != want {
			t.Errorf("endpoint %d = %s, want %s", i, endpoints(s2)[i], want)
		}
	}
	cfg = awsConfig(t, s2)
	if got := getItem(ctx, t, dynamodb.NewFromConfig(cfg), "persistent", "lead#42"); got != "Grace" {
		t.Errorf("after restart GetItem name = %q, want Grace", got)
	}
	dec, err := kms.NewFromConfig(cfg).Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	if err != nil {
		t.Fatalf("after restart Decrypt: %v", err)
	}
	if string(dec.Plaintext) != "page token" {
		t.Errorf("after restart Decrypt = %q, want %q", dec.Plaintext, "page token")
	}
}

// TestStartPortInUse checks that a service that cannot start makes Start
// fail with its name and log, and that the others are stopped again.
func TestStartPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	ports := devstack.Ports{DynamoDB: freePort(t), SQS: freePort(t), KMS: freePort(t), SES: busy.Addr().(*net.TCPAddr).Port}
	s, err := devstack.Start(testContext(t), devstack.Options{Ports: ports})
	if err == nil {
		s.Stop()
		t.Fatal("Start succeeded with the SES port taken")
	}
	t.Logf("Start error: %v", err)
	for _, want := range []string{"start ses", "listen on the SES port"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Start error lacks %q", want)
		}
	}
	var eps []string
	for _, p := range []int{ports.DynamoDB, ports.SQS, ports.KMS} {
		eps = append(eps, "http://127.0.0.1:"+strconv.Itoa(p))
	}
	assertPortsClosed(t, eps)
}

// TestParentKilled kills (SIGKILL) a process that started a stack and
// checks that the kernel takes the children down with it.
func TestParentKilled(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=orphan")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		t.Fatalf("read helper report: %v", err)
	}
	var rep helperReport
	if err := json.Unmarshal(line, &rep); err != nil {
		t.Fatalf("helper report %q: %v", line, err)
	}
	t.Cleanup(func() { os.RemoveAll(rep.TempDir) }) // SIGKILL leaves it behind
	if len(rep.PIDs) != 4 {
		t.Fatalf("helper reported pids %v, want 4", rep.PIDs)
	}
	for _, pid := range rep.PIDs {
		if !alive(pid) {
			t.Fatalf("child %d not running before the kill", pid)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	deadline := time.Now().Add(15 * time.Second)
	for _, pid := range rep.PIDs {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if alive(pid) {
			t.Errorf("child %d survived its parent's SIGKILL", pid)
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
	assertPortsClosed(t, rep.Endpoints)
}

// TestRunTests runs TestRunTestsChild in a child test binary whose TestMain
// is devstack.RunTests, without a stack in its environment.
func TestRunTests(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunTestsChild$", "-test.v")
	cmd.Env = append(withoutEnv("LEADLUENCE_DEVSTACK"), helperEnv+"=runtests")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child test binary: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("--- PASS: TestRunTestsChild")) {
		t.Fatalf("TestRunTestsChild did not pass:\n%s", out)
	}
	// The child printed its endpoints; RunTests must have stopped them.
	var eps []string
	for _, line := range strings.Split(string(out), "\n") {
		if _, rest, ok := strings.Cut(line, "endpoints: "); ok {
			eps = strings.Fields(rest)
		}
	}
	if len(eps) != 4 {
		t.Fatalf("no endpoints in child output:\n%s", out)
	}
	assertPortsClosed(t, eps)
}

func TestRunTestsChild(t *testing.T) {
	if os.Getenv(helperEnv) != "runtests" {
		t.Skip("runs only inside TestRunTests")
	}
	var eps []string
	for _, k := range []string{"AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL_SESV2"} {
		v := os.Getenv(k)
		if v == "" {
			t.Fatalf("%s not set by RunTests", k)
		}
		eps = append(eps, v)
	}
	t.Logf("endpoints: %s", strings.Join(eps, " "))
	cfg, err := config.LoadDefaultConfig(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dynamodb.NewFromConfig(cfg).ListTables(testContext(t), &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("ListTables: %v", err)
	}
}

// TestRunTestsFailsLoudly checks that RunTests reports a stack that cannot
// start and exits 1 instead of skipping the tests.
func TestRunTestsFailsLoudly(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunTestsChild$", "-test.v")
	env := append(withoutEnv("LEADLUENCE_DEVSTACK", "PATH", "JAVA_HOME"), helperEnv+"=runtests", "PATH="+t.TempDir())
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("child exit: %v, want exit status 1\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("devstack: cannot start the local AWS stack")) {
		t.Errorf("child output lacks the reason:\n%s", out)
	}
	if bytes.Contains(out, []byte("TestRunTestsChild")) {
		t.Errorf("tests ran without a stack:\n%s", out)
	}
}

func TestFromEnv(t *testing.T) {
	full := map[string]string{
		"LEADLUENCE_DEVSTACK":       "1",
		"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:1001",
		"AWS_ENDPOINT_URL_SQS":      "http://127.0.0.1:1002",
		"AWS_ENDPOINT_URL_KMS":      "http://127.0.0.1:1003",
		"AWS_ENDPOINT_URL_SESV2":    "http://127.0.0.1:1004",
	}
	tests := []struct {
		name  string
		unset string
		want  bool
	}{
		{name: "all set", want: true},
		{name: "flag missing", unset: "LEADLUENCE_DEVSTACK"},
		{name: "dynamodb missing", unset: "AWS_ENDPOINT_URL_DYNAMODB"},
		{name: "sqs missing", unset: "AWS_ENDPOINT_URL_SQS"},
		{name: "kms missing", unset: "AWS_ENDPOINT_URL_KMS"},
		{name: "ses missing", unset: "AWS_ENDPOINT_URL_SESV2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range full {
				if k == tt.unset {
					v = ""
				}
				t.Setenv(k, v)
			}
			s, ok := devstack.FromEnv()
			if ok != tt.want {
				t.Fatalf("FromEnv ok = %v, want %v", ok, tt.want)
			}
			if !ok {
				return
			}
			if s.DynamoDB != full["AWS_ENDPOINT_URL_DYNAMODB"] || s.SQS != full["AWS_ENDPOINT_URL_SQS"] ||
				s.KMS != full["AWS_ENDPOINT_URL_KMS"] || s.SES != full["AWS_ENDPOINT_URL_SESV2"] {
				t.Errorf("FromEnv = %+v, want the endpoints from the environment", s)
			}
			if got := s.Env()["AWS_ENDPOINT_URL_SQS"]; got != full["AWS_ENDPOINT_URL_SQS"] {
				t.Errorf("Env() SQS = %q", got)
			}
			if err := s.Stop(); err != nil {
				t.Errorf("Stop on a FromEnv stack: %v", err)
			}
		})
	}
	t.Run("flag not 1", func(t *testing.T) {
		for k, v := range full {
			t.Setenv(k, v)
		}
		t.Setenv("LEADLUENCE_DEVSTACK", "true")
		if _, ok := devstack.FromEnv(); ok {
			t.Errorf("FromEnv accepted LEADLUENCE_DEVSTACK=true")
		}
	})
}

func TestRoot(t *testing.T) {
	root, err := devstack.Root()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "module github.com/leadluence/backend\n") {
		t.Errorf("%s/go.mod does not declare module github.com/leadluence/backend", root)
	}
	if _, err := os.Stat(filepath.Join(root, "tools", "devstack")); err != nil {
		t.Errorf("Root() = %s: %v", root, err)
	}
}

func createTable(ctx context.Context, t *testing.T, db *dynamodb.Client, name string) {
	t.Helper()
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
	})
	if err != nil {
		t.Fatalf("CreateTable %s: %v", name, err)
	}
}

func putItem(ctx context.Context, t *testing.T, db *dynamodb.Client, table, pk, name string) {
	t.Helper()
	_, err := db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(table),
		Item: map[string]ddbtypes.AttributeValue{
			"pk":   &ddbtypes.AttributeValueMemberS{Value: pk},
			"name": &ddbtypes.AttributeValueMemberS{Value: name},
		},
	})
	if err != nil {
		t.Fatalf("PutItem: %v", err)
	}
}

func getItem(ctx context.Context, t *testing.T, db *dynamodb.Client, table, pk string) string {
	t.Helper()
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: pk}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("GetItem: %v", err)
	}
	name, ok := out.Item["name"].(*ddbtypes.AttributeValueMemberS)
	if !ok {
		return ""
	}
	return name.Value
}

// alive reports whether pid is a live process. A zombie whose threads have
// all exited counts as dead (nobody may reap it after its parent was
// killed); a zombie leader whose other threads are still exiting does not.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// The state is the first field after the ")" closing the command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) || s[i+2] != 'Z' {
		return true
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	return err == nil && len(tasks) > 1
}

// assertPortsClosed checks that nothing accepts connections on the
// endpoints' ports any more.
func assertPortsClosed(t *testing.T, eps []string) {
	t.Helper()
	for _, ep := range eps {
		u, err := url.Parse(ep)
		if err != nil {
			t.Errorf("endpoint %q: %v", ep, err)
			continue
		}
		if c, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections", ep)
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func withoutEnv(names ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, n := range names {
			drop = drop || name == n
		}
		if !drop {
			env = append(env, kv)
		}
	}
	return env
}

// testSESIdentities drives the SES identity stand-in through the SDK:
// create, read, verify through the local link, delete, and SendEmail's
// check of the From address.
func testSESIdentities(ctx context.Context, t *testing.T, s *devstack.Stack, ses *sesv2.Client) {
	const addr = "sales@acme.test"
	created, err := ses.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(addr)})
	if err != nil {
		t.Fatalf("CreateEmailIdentity: %v", err)
	}
	if created.IdentityType != sestypes.IdentityTypeEmailAddress || created.VerifiedForSendingStatus {
		t.Errorf("CreateEmailIdentity = %+v, want a pending email address", created)
	}
	var exists *sestypes.AlreadyExistsException
	if _, err := ses.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(addr)}); !errors.As(err, &exists) {
		t.Errorf("second CreateEmailIdentity: err = %v, want AlreadyExistsException", err)
	}
	got, err := ses.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(addr)})
	if err != nil {
		t.Fatalf("GetEmailIdentity: %v", err)
	}
	if got.VerifiedForSendingStatus || got.VerificationStatus != sestypes.VerificationStatusPending || got.IdentityType != sestypes.IdentityTypeEmailAddress {
		t.Errorf("GetEmailIdentity before the link = %+v", got)
	}

	send := func(from string) error {
		_, err := ses.SendEmail(ctx, &sesv2.SendEmailInput{
			FromEmailAddress: aws.String(from), ReplyToAddresses: []string{"owner@acme.test"},
			Destination: &sestypes.Destination{ToAddresses: []string{"lead@example.test"}},
			Content: &sestypes.EmailContent{Simple: &sestypes.Message{
				Subject: &sestypes.Content{Data: aws.String("from " + from)},
				Body:    &sestypes.Body{Text: &sestypes.Content{Data: aws.String("hello")}},
			}},
		})
		return err
	}
	var rejected *sestypes.MessageRejected
	if err := send(`"Acme" <` + addr + `>`); !errors.As(err, &rejected) {
		t.Errorf("SendEmail from a pending identity: err = %v, want MessageRejected", err)
	}

	if err := s.VerifyEmailIdentity(ctx, addr); err != nil {
		t.Fatal(err)
	}
	got, err = ses.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(addr)})
	if err != nil {
		t.Fatalf("GetEmailIdentity: %v", err)
	}
	if !got.VerifiedForSendingStatus || got.VerificationStatus != sestypes.VerificationStatusSuccess {
		t.Errorf("GetEmailIdentity after the link = %+v", got)
	}
	if err := send(`"Acme" <` + addr + `>`); err != nil {
		t.Fatalf("SendEmail from a verified identity: %v", err)
	}
	resp, err := http.Get(s.SES + "/store")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var store struct {
		Emails []struct {
			From    string   `json:"from"`
			ReplyTo []string `json:"replyTo"`
			Subject string   `json:"subject"`
		} `json:"emails"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&store); err != nil {
		t.Fatal(err)
	}
	if n := len(store.Emails); n == 0 || store.Emails[n-1].From != `"Acme" <`+addr+`>` || len(store.Emails[n-1].ReplyTo) != 1 ||
		store.Emails[n-1].ReplyTo[0] != "owner@acme.test" {
		t.Errorf("SES store = %+v, want the email from the verified address last", store.Emails)
	}

	// The platform's domain is verified from the start.
	platform, err := ses.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("ops@leadluence.local")})
	if err != nil || !platform.VerifiedForSendingStatus {
		t.Errorf("CreateEmailIdentity in the platform domain = %+v, %v; want verified", platform, err)
	}

	if _, err := ses.DeleteEmailIdentity(ctx, &sesv2.DeleteEmailIdentityInput{EmailIdentity: aws.String(addr)}); err != nil {
		t.Fatalf("DeleteEmailIdentity: %v", err)
	}
	var notFound *sestypes.NotFoundException
	if _, err := ses.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(addr)}); !errors.As(err, &notFound) {
		t.Errorf("GetEmailIdentity after delete: err = %v, want NotFoundException", err)
	}
	if _, err := ses.DeleteEmailIdentity(ctx, &sesv2.DeleteEmailIdentityInput{EmailIdentity: aws.String(addr)}); !errors.As(err, &notFound) {
		t.Errorf("second DeleteEmailIdentity: err = %v, want NotFoundException", err)
	}
	// A From that is no identity at all still goes through (unlike SES).
	if err := send("someone@elsewhere.test"); err != nil {
		t.Errorf("SendEmail from an unknown address: %v", err)
	}
}
