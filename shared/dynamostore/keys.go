package dynamostore

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/leadluence/backend/shared/ratelimit"
)

// Every key of the single table is built in this file, so the data model in
// docs/data-model.md can be checked against one place.

// Key attribute names (see infra/topology).
const (
	attrPK     = "PK"
	attrSK     = "SK"
	attrGSI1PK = "GSI1PK"
	attrGSI1SK = "GSI1SK"
	attrGSI2PK = "GSI2PK"
	attrGSI2SK = "GSI2SK"
	attrTTL    = "ttl"
	attrGSI3PK = "GSI3PK"
	attrGSI3SK = "GSI3SK"

	indexGSI1 = "GSI1"
	indexGSI2 = "GSI2"
	indexGSI3 = "GSI3"
)

const (
	skOrg           = "ORG"
	skEmail         = "EMAIL"
	skRefresh       = "REFRESH"
	skThrottle      = "THROTTLE"
	skSecret        = "SECRET"
	prefixUser      = "USER#"
	prefixLead      = "LEAD#"
	prefixFamily    = "FAMILY#"
	prefixUniqPhone = "UNIQ#PHONE#"
	prefixUniqEmail = "UNIQ#EMAIL#"
)

// orgPK is the partition of everything an org owns: its record, users,
// leads and the uniqueness guards of lead phones and emails.
func orgPK(orgID string) string { return "ORG#" + orgID }

func userSK(userID string) string { return prefixUser + userID }

// emailPK guards platform-wide uniqueness of login emails and maps an email
// to its user for login.
func emailPK(email string) string { return "EMAIL#" + email }

func leadSK(leadID string) string { return prefixLead + leadID }

// leadPhoneSK and leadEmailSK guard one lead per phone / email in an org.
func leadPhoneSK(e164 string) string  { return prefixUniqPhone + e164 }
func leadEmailSK(email string) string { return prefixUniqEmail + email }

// leadStatusPK is GSI1's partition: an org's leads by status, newest first.
func leadStatusPK(orgID, status string) string { return "ORG#" + orgID + "#STATUS#" + status }

// leadAssigneePK is GSI2's partition: an org's leads by assignee, newest first.
func leadAssigneePK(orgID, userID string) string { return "ORG#" + orgID + "#ASSIGNEE#" + userID }

// leadStagePK is GSI3's partition of a lead (sort key leadSK): an org's
// leads in one stage of one pipeline, newest first, a board's column.
func leadStagePK(orgID, pipelineID, stageID string) string {
	return "ORG#" + orgID + "#PIPELINE#" + pipelineID + "#STAGE#" + stageID
}

// pipelineSK is a pipeline in its org's partition (the default one is
// PIPELINE#default; the others' ids are ULIDs, so by creation).
func pipelineSK(id string) string { return prefixPipeline + id }

const prefixPipeline = "PIPELINE#"

// auditPK is the partition of an org's audit trail, sorted by record id (a
// ULID, so by time). Platform-level events use orgID "platform".
func auditPK(orgID string) string { return "AUDIT#" + orgID }

// refreshPK is one refresh token, looked up by its public id.
func refreshPK(tokenID string) string { return "REFRESH#" + tokenID }

// familyKey is a refresh-token family, kept under its user so that all of a
// user's sessions are one Query away.
func familyPK(userID string) string   { return "SESSIONS#" + userID }
func familySK(familyID string) string { return prefixFamily + familyID }

// throttlePK counts failed logins for one email (by hash, never the email).
func throttlePK(emailHash string) string { return "THROTTLE#LOGIN#" + emailHash }

// secretPK holds a platform secret sealed with the envelope key.
func secretPK(name string) string { return "SECRET#" + name }

// integrationSK is an org's integration with a page or number.
func integrationSK(kind, externalID string) string { return "INTEGRATION#" + kind + "#" + externalID }

// metaOwnerPK maps a page or number to the one org it belongs to. The
// webhook reads this item (SK skOwner, org_id and status) with a GetItem of
// its own, as it links no store (functions/webhook/app/ownertable.go); its
// tests write the item through ConnectIntegration, so they fail if this
// key changes alone.
func metaOwnerPK(kind, externalID string) string { return "META#" + kind + "#" + externalID }

const (
	skOwner           = "OWNER"
	prefixIntegration = "INTEGRATION#"
	prefixMsg         = "MSG#"
	prefixConsent     = "CONSENT#"
	prefixActivity    = "ACT#"
	prefixNote        = "NOTE#"
	prefixStatusLog   = "STATUS#"
	skWAMID           = "WAMID"
)

// leadPartPK is the partition of one lead's history: messages, activities
// (its timeline), notes, consent ledger.
func leadPartPK(orgID, leadID string) string { return "ORG#" + orgID + "#LEAD#" + leadID }

func messageSK(msgID string) string   { return prefixMsg + msgID }
func consentSK(entryID string) string { return prefixConsent + entryID }
func activitySK(actID string) string  { return prefixActivity + actID }
func noteSK(noteID string) string     { return prefixNote + noteID }
func eventSK(key string) string       { return "EVENT#" + key }
func wamidPK(wamid string) string     { return "WAMID#" + wamid }
func statusLogSK(at int64, status string) string {
	return fmt.Sprintf("%s%020d#%s", prefixStatusLog, at, status)
}

// consentEventKey is the event claimed by a consent entry appended once per
// evidence (AppendConsentOnce).
func consentEventKey(evidence string) string { return "consent:" + evidence }

// clientMessageSK guards one message per client_message_id in an org.
func clientMessageSK(clientID string) string { return "CLIENTMSG#" + clientID }

// skConversation is a lead's conversation summary in its history partition
// (latest message, unread counter, read marker; see inbox.go).
const skConversation = "CONV"

// inboxPK is GSI1's partition of an org's conversations, latest message
// first.
func inboxPK(orgID string) string { return "ORG#" + orgID + "#INBOX" }

// inboxAssigneePK is GSI2's partition of the conversations of one user's
// leads, latest message first.
func inboxAssigneePK(orgID, userID string) string {
	return "ORG#" + orgID + "#INBOX#ASSIGNEE#" + userID
}

// inboxUnassignedPK is GSI2's partition of the conversations of leads
// nobody is assigned to.
func inboxUnassignedPK(orgID string) string { return "ORG#" + orgID + "#INBOX#UNASSIGNED" }

// parkedPK holds events parked while an integration's token is invalid.
func parkedPK(orgID, kind, externalID string) string {
	return "PARKED#" + orgID + "#" + kind + "#" + externalID
}

// skEmailSender is an org's own sender address, in the org's partition
// (see emailsender.go).
const skEmailSender = "EMAIL_SENDER"

// senderOwnerPK maps a sender address (lower-cased) to the one org that may
// send from it.
func senderOwnerPK(email string) string { return "SENDER#" + email }

// integrationsByKindPK is GSI1's partition of every integration of a kind;
// integrationsByKindSK orders it by org, then page or number.
func integrationsByKindPK(kind string) string { return "INTEGRATIONS#" + kind }
func integrationsByKindSK(orgID, externalID string) string {
	return orgID + "#" + externalID
}

// campaignSK is a campaign in its org's partition (ids are ULIDs, so the
// partition lists campaigns by time).
func campaignSK(id string) string { return prefixCampaign + id }

const prefixCampaign = "CAMPAIGN#"

// skAutomationSettings is an org's automation settings, in the org's
// partition (see automation.go).
const skAutomationSettings = "AUTOMATION#settings"

// skAssignmentRule is an org's lead assignment rule with its turn counter,
// in the org's partition (see assignment.go).
const skAssignmentRule = "ASSIGNMENT_RULE"

// skConsentMapping is an org's consent mapping (which Lead Ads form answers
// are opt-ins), in the org's partition (see consentmapping.go).
const skConsentMapping = "CONSENT_MAPPING"

// The pacer's items (see pacing.go).

// rateWindowPK and rateWindowSK count the sends granted from a business
// number in one one-second window (its Unix second). A limit over
// outbound.ShardCapacity is split over several counters, each in its own
// partition: shard 0 is "RATE#<number>", shard n > 0 "RATE#<number>#S<n>".
func rateWindowPK(number string, shard int) string {
	if shard == 0 {
		return "RATE#" + number
	}
	return "RATE#" + number + "#S" + strconv.Itoa(shard)
}
func rateWindowSK(sec int64) string { return strconv.FormatInt(sec, 10) }

// pairPK holds the schedule of one business number and one recipient.
func pairPK(number, to string) string { return "RATE#" + number + "#TO#" + to }

const skPair = "PAIR"

// bookingPK holds the pair slot booked by a message that waits for it in
// the queue.
func bookingPK(orgID, msgID string) string { return "RATE#BOOKING#" + orgID + "#" + msgID }

const skBooking = "BOOKING"

// emailRatePK and emailRateSK count the emails an org queued in one
// one-minute window (the Unix second it starts at). Business numbers are
// digits, so "EMAIL#" never meets a rateWindowPK.
func emailRatePK(orgID string) string { return "RATE#EMAIL#" + orgID }
func emailRateSK(minute int64) string { return strconv.FormatInt(minute, 10) }

// Privacy policy versions (platform-wide) and each org's acknowledgements.
const (
	pkPolicy            = "POLICY"
	prefixPolicyVersion = "VERSION#"
	prefixPolicyAck     = "POLICY_ACK#"
)

// policyVersionSK is one published version in the POLICY partition.
func policyVersionSK(id string) string { return prefixPolicyVersion + id }

// policyAckSK is an org's acknowledgement of a version, in the org's
// partition.
func policyAckSK(versionID string) string { return prefixPolicyAck + versionID }

// ownersPK is GSI1's partition of every org's active owners (sort key
// ownerSK), so that a platform notice reaches them without a Scan. One
// partition for all owners is fine for a rarely read list of one user per
// org; it is written only when an owner is created or changes.
const ownersPK = "OWNERS"

func ownerSK(orgID, userID string) string { return orgID + "#" + userID }

// The data lifecycle's items (see retention.go).

// skRetentionSettings is an org's retention settings, in the org's
// partition; every org has one from sign-up, filed in GSI1 under
// retentionOrgsPK so that the scheduled runs list every org with its
// settings in one Query.
const skRetentionSettings = "RETENTION#settings"

// retentionOrgsPK is GSI1's partition of every org's retention settings,
// ordered by org id.
const retentionOrgsPK = "RETENTION#ORGS"

// contentDuePK is GSI3's partition of an org's messages whose content is
// still intact; contentDueSK orders it by message time (UTC, fixed width),
// then id, so "due before t" is one key condition.
func contentDuePK(orgID string) string { return "RETAIN#CONTENT#" + orgID }
func contentDueSK(at time.Time, msgID string) string {
	return at.UTC().Format(dueTimeLayout) + "#" + msgID
}

// dueTimeLayout is fixed width, so due sort keys compare as times.
const dueTimeLayout = "2006-01-02T15:04:05.000Z"

// retentionRunPK holds the checkpoint of an unfinished retention run, one
// item per job.
const retentionRunPK = "RETENTION#RUN"

// closedOrgsPK is GSI1's partition of closed orgs (the org item while
// closed); closedOrgSK orders it by closure time, then org id, so "closed
// before t" is one key condition (account closure, closure.go).
const closedOrgsPK = "CLOSED#ORGS"

func closedOrgSK(at time.Time, orgID string) string {
	return at.UTC().Format(dueTimeLayout) + "#" + orgID
}

// Deleting a lead (see leaddelete.go).

// suppressionSK is a deleted lead's opt-outs under the keyed hash of one of
// its contacts (phone or email), in the org's partition.
func suppressionSK(contactHash string) string { return "SUPPRESS#" + contactHash }

// pendingPurgePK is the partition of deleted leads whose history is still
// being removed; pendingPurgeSK names one, so the retention function lists
// them all in one Query.
const pendingPurgePK = "PURGE#LEADS"

func pendingPurgeSK(orgID, leadID string) string { return orgID + "#" + leadID }

// Purging a closed org (see orgpurge.go).

// deletedOrgsPK is the partition of purged orgs' deletion receipts, one
// item per org (sort key: the org id).
const deletedOrgsPK = "DELETED#ORGS"

// Data-subject requests (see privacy.go).

// prefixPrivacyRequest starts the sort keys of an org's data-subject
// requests in its partition (ids are ULIDs, so the partition lists them
// by time).
const prefixPrivacyRequest = "PRIVACY#"

func privacyRequestSK(id string) string { return prefixPrivacyRequest + id }

// privacyExportPK is the partition of one request's export document, in
// chunks (privacyChunkSK orders them).
func privacyExportPK(orgID, requestID string) string { return "ORG#" + orgID + "#PRIVACY#" + requestID }

func privacyChunkSK(seq int) string { return fmt.Sprintf("CHUNK#%05d", seq) }

// Lead imports (see imports.go).

// prefixImport starts the sort keys of an org's imports in its partition
// (ids are ULIDs, so by time); prefixImportKey those of the keys (file and
// mapping digests) that find an import of the same file again.
const (
	prefixImport    = "IMPORT#"
	prefixImportKey = "IMPORTKEY#"
)

func importSK(id string) string      { return prefixImport + id }
func importKeySK(hash string) string { return prefixImportKey + hash }

// importRowsPK is the partition of one import's row outcomes, by row.
func importRowsPK(orgID, importID string) string { return "ORG#" + orgID + "#IMPORT#" + importID }

func importRowSK(row int) string { return fmt.Sprintf("ROW#%07d", row) }

// Purging a disconnected integration's Meta data (see integrationpurge.go).

// integrationPurgeSK is the progress of the purge of an integration's data
// in the org's partition (pending, running, done; counts), which the
// integration's health shows; it outlives the purge.
func integrationPurgeSK(kind, externalID string) string {
	return "PURGE#INTEGRATION#" + kind + "#" + externalID
}

// prefixIntegrationPurge starts every integration purge record's sort key.
const prefixIntegrationPurge = "PURGE#INTEGRATION#"

// pendingIntegrationPurgePK is the partition of integration purges still
// to run; pendingIntegrationPurgeSK names one, so the retention function
// lists them all in one Query.
const pendingIntegrationPurgePK = "PURGE#INTEGRATIONS"

func pendingIntegrationPurgeSK(orgID, kind, externalID string) string {
	return orgID + "#" + kind + "#" + externalID
}

// One-time account tokens and invitations (see accounttokens.go).

// accountTokenPK is a one-time token (invitation, password reset, email
// verification) under the SHA-256 of the token: only its holder finds it.
func accountTokenPK(hash string) string { return "ACCTOKEN#" + hash }

const skAccountToken = "TOKEN"

// accountTokensPK is GSI1's partition of an org's one-time tokens, so the
// closed org purge finds them (sort key: the token hash).
func accountTokensPK(orgID string) string { return "ACCTOKENS#" + orgID }

// invitationSK is an invitation in its org's partition (ids are ULIDs, so
// the partition lists them by time).
func invitationSK(id string) string { return prefixInvitation + id }

const prefixInvitation = "INVITE#"

// throttleAccountPK counts requests about one email or client address (by
// hash) in a window: password resets, verification mails, the requests of
// one client address to a public operation (httpapi.ClientLimit).
func throttleAccountPK(keyHash string) string { return "THROTTLE#ACCOUNT#" + keyHash }

// Tasks, reminders and notifications (see tasks.go).

// prefixTask starts a task's sort key in its lead's history partition.
const prefixTask = "TASK#"

func taskSK(taskID string) string { return prefixTask + taskID }

// tasksPK is GSI1's partition of an org's tasks of one assignee in one
// status (open, done); taskDueSK orders it by due time (UTC, fixed width),
// then task id, so "my open tasks due before t" is one key condition.
func tasksPK(orgID, assigneeID, status string) string {
	return "TASKS#" + orgID + "#" + assigneeID + "#" + status
}
func taskDueSK(due time.Time, taskID string) string {
	return due.UTC().Format(dueTimeLayout) + "#" + taskID
}

// remindersPK is GSI3's partition of every task whose reminder is still to
// be recorded (sparse: the keys go when it is); reminderDueSK orders it by
// the reminder's time, then org, lead and task, so "due at t" is one key
// condition for the scheduled job.
const remindersPK = "REMINDERS"

func reminderDueSK(at time.Time, orgID, leadID, taskID string) string {
	return at.UTC().Format(dueTimeLayout) + "#" + orgID + "#" + leadID + "#" + taskID
}

// notificationsPK is the partition of an org's notifications;
// notificationSK files one under its user, by id (a ULID of its time).
func notificationsPK(orgID string) string { return "NOTIFY#" + orgID }
func notificationSK(userID, id string) string {
	return notificationUserPrefix(userID) + id
}
func notificationUserPrefix(userID string) string { return "NOTIF#" + userID + "#" }

// unreadNotificationsPK is GSI2's partition of one user's unread
// notifications (sparse: the keys go when it is read), by id.
func unreadNotificationsPK(orgID, userID string) string {
	return "NOTIFY#" + orgID + "#" + userID + "#UNREAD"
}

// Appointments (see appointments.go).

// prefixAppointment starts an appointment's sort key in its lead's history
// partition.
const prefixAppointment = "APPT#"

func appointmentSK(id string) string { return prefixAppointment + id }

// appointmentsPK is GSI1's partition of the booked appointments of one
// user of an org (sparse: a cancelled one leaves it); appointmentStartSK
// orders it by start (UTC, fixed width), then id, so the overlap check is
// one key condition on start times.
func appointmentsPK(orgID, assigneeID string) string { return "APPTS#" + orgID + "#" + assigneeID }
func appointmentStartSK(start time.Time, id string) string {
	return start.UTC().Format(dueTimeLayout) + "#" + id
}

// Custom field definitions and their unique guards (see fields.go).

// skFieldDefs is an org's custom field definitions, one item in the org's
// partition.
const skFieldDefs = "CUSTOM_FIELDS"

// prefixUniqField starts the sort keys of custom field unique guards.
const prefixUniqField = "UNIQ#CF#"

// fieldGuardPrefix starts the guards of one custom field.
func fieldGuardPrefix(key string) string { return prefixUniqField + key + "#" }

// fieldGuardSK guards one lead per value of a unique custom field in an
// org, under the SHA-256 of the lower-cased value (bounded length, and no
// value in the key).
func fieldGuardSK(key, value string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(value)))
	return fieldGuardPrefix(key) + hex.EncodeToString(sum[:])
}

// Two-factor sign-in (see mfa.go).

// mfaSK is a user's two-factor enrolment in its org's partition.
func mfaSK(userID string) string { return "MFA#" + userID }

// API keys (see apikeys.go).

// apiKeySK is an API key's record in its org's partition (ids are ULIDs,
// so the partition lists keys by time).
func apiKeySK(id string) string { return prefixAPIKey + id }

const prefixAPIKey = "APIKEY#"

// apiKeyLookupPK finds an API key by the SHA-256 of the key presented:
// only its holder finds it.
func apiKeyLookupPK(hash string) string { return "APIKEY#" + hash }

const skAPIKeyLookup = "KEY"

// apiKeyRatePK is the partition of an API key's request bucket (SK
// skBucket, see buckets.go).
func apiKeyRatePK(keyID string) string { return "RATE#APIKEY#" + keyID }

// usagePK and usageSK are an org's usage counter of a plan metric in one
// period (plan.Counter): the partition is the org's shard of its counters
// (shard 0 for unsplit ones, see shared/plan), the sort key the metric and
// the period's key.
func usagePK(orgID string, shard int) string { return "USAGE#" + orgID + "#" + strconv.Itoa(shard) }
func usageSK(metric, period string) string   { return metric + "#" + period }

// Lead merges (see merges.go).

// mergeSK is a lead merge's record (both leads' snapshots, its state) in
// the org's partition (ids are ULIDs, so the partition lists merges by
// time).
func mergeSK(id string) string { return prefixMerge + id }

const prefixMerge = "MERGE#"

// canonEmailSK files a lead under the canonical form of one of its emails
// (lead.CanonicalEmail) when it differs from the email, in the org's
// partition: canonEmailPrefix finds every lead of a canonical address with
// one Query (GET /v1/leads/{id}/duplicates from the canonical side).
func canonEmailSK(canonical, leadID string) string { return canonEmailPrefix(canonical) + leadID }
func canonEmailPrefix(canonical string) string     { return prefixCanonEmail + canonical + "#" }

const prefixCanonEmail = "CANON#EMAIL#"

// Token buckets (see buckets.go): an org's API request bucket, shard by
// shard, in the partition of the org's usage counters of that shard
// (USAGE#<org>#<shard> / BUCKET#api_requests), and an API key's in its
// rate partition (RATE#APIKEY#<key> / BUCKET).
const (
	skOrgRequestBucket = "BUCKET#api_requests"
	skBucket           = "BUCKET"
)

// bucketKey is the item of a token bucket.
func bucketKey(k ratelimit.Key) (pk, sk string, err error) {
	switch k.Kind {
	case ratelimit.OrgRequests:
		return usagePK(k.ID, k.Shard), skOrgRequestBucket, nil
	case ratelimit.APIKeyRequests:
		return apiKeyRatePK(k.ID), skBucket, nil
	}
	return "", "", fmt.Errorf("no bucket of kind %q", k.Kind)
}

// gaugeSK is an org's gauge of a plan metric (active users, running
// campaigns, connected integrations: plan.Gauges), in shard 0 of its
// usage partition.
func gaugeSK(metric string) string { return "GAUGE#" + metric }

// useMarkerSK marks one keyed use (a send's client message id) counted
// on an org's counter of metric in period, beside the counter.
func useMarkerSK(metric, period, key string) string {
	return "TAKEN#" + metric + "#" + period + "#" + key
}

// noticeSK marks that an org's owners were told about a plan limit in a
// period: what is near (the 80 % email) or over (the in-app notice).
func noticeSK(what, metric, period string) string {
	return "NOTICE#" + what + "#" + metric + "#" + period
}
