// Package torture is the pipeline torture test: what goes in must come out,
// exactly once. Its test (torture_test.go) generates mixed Meta events from
// a seed (Lead Ads submissions, inbound WhatsApp messages of every type the
// intake parses, statuses of our replies in random order) for several orgs,
// delivers each one to three times, shuffled and batched, through the real
// webhook handler, the intake queue and the ingest handler, sends replies
// through the api, the outbound queue and the sender with the Meta simulator
// as WhatsApp, emails leads through the sender and the SES stand-in and puts
// SES's delivery, bounce and complaint events of them (SNS notifications)
// on the intake queue, and injects faults on the way: DynamoDB throttles
// and 5xx and lost answers, SQS send failures (the webhook answers 5xx and
// the event is delivered again), Graph API 5xx, timeouts and a revoked
// token, handlers that crash mid-batch. It then drains the queues, replays each DLQ once and
// checks every lead, inbound message, outbound message, status and email
// opt-out.
//
// `make torture` runs it with a large N (SEED=, N=, ARGS=); `make test` runs
// a short seeded version. This file's package holds the SDK fault injector
// (Faults); see docs/torture.md for what is checked and a run's figures.
package torture
