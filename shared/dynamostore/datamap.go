package dynamostore

import (
	"reflect"
	"sort"
	"strings"
	"time"
)

// The data map: every item kind of the table, each attribute it holds,
// which of them are personal data, where they come from, which are
// encrypted by us, the retention rules the item falls under and who reads
// it. docs/data-map.md is rendered from it (make datamap, tools/datamap).
// An item's attributes are taken from its struct's dynamodbav tags, so a
// field added to a struct without a classification here fails the tests
// (datamap_test.go), as does an item struct without an entry.

// Source says where an attribute's value comes from; several may be
// combined (User|Meta: typed by a user, or received from Meta).
type Source uint8

// The sources.
const (
	// User is an org's user, in the app or through the API.
	User Source = 1 << iota
	// Meta is Meta's webhooks and Graph API (Lead Ads, WhatsApp).
	Meta
	// EmailProvider is the email provider (SES message ids, delivery events).
	EmailProvider
	// System is Leadluence itself: keys, ids, times, states, counters.
	System
)

// String names the sources, "user or Meta".
func (s Source) String() string {
	var names []string
	for _, n := range []struct {
		s    Source
		name string
	}{{User, "user"}, {Meta, "Meta"}, {EmailProvider, "email provider"}, {System, "system"}} {
		if s&n.s != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, " or ")
}

// Field classifies one attribute of an item kind.
type Field struct {
	// Personal is true when the value is, or reveals, personal data of a
	// lead or a user (ids that only point to a lead or user are not
	// marked; the item they point to is).
	Personal bool
	// Source is where the value comes from.
	Source Source
	// Encrypted is true when we encrypt the value ourselves (KMS envelope),
	// on top of the table's encryption at rest that covers everything.
	Encrypted bool
	// Note says more (a hash, what the key embeds, ...).
	Note string
	// UpdateOnly marks an attribute that no item struct declares: it is
	// written only by update expressions (keys included, for items that are
	// only ever updated).
	UpdateOnly bool
}

// Rule is a retention rule an item kind falls under.
type Rule string

// The retention rules.
const (
	// RuleTTL: the item carries ttl and DynamoDB deletes it after that time.
	RuleTTL Rule = "TTL"
	// RuleDeleted: the application deletes the item (or the attributes
	// named) on a user action or when it is done with it.
	RuleDeleted Rule = "deleted by the application"
	// RuleSanitize: old message content is removed or truncated, keeping
	// the message's metadata.
	RuleSanitize Rule = "sanitize"
	// RulePurgeOnDisconnect: data received from Meta through an integration
	// is deleted when the integration is disconnected.
	RulePurgeOnDisconnect Rule = "purge on disconnect"
	// RulePurgeOnClosure: everything of an org is deleted 90 days after the
	// account is closed.
	RulePurgeOnClosure Rule = "purge on closure"
	// RuleErasure: deleted on a data subject's erasure request
	// (POST /v1/privacy-requests, type erasure; package privacy).
	RuleErasure Rule = "erasure"
	// RuleUserErasure: deleted when one of an org's users asks for its own
	// data to be deleted.
	RuleUserErasure Rule = "user erasure"
	// RuleKept: no expiry of its own; the item lasts as long as what it
	// belongs to (the platform, the lead).
	RuleKept Rule = "kept"
)

// Enforced reports whether the rule is carried out today; the others are
// declared so that the item is covered when they are built.
func (r Rule) Enforced() bool {
	switch r {
	case RuleTTL, RuleDeleted, RuleKept, RuleSanitize, RulePurgeOnClosure, RuleErasure, RulePurgeOnDisconnect:
		return true
	default:
		return false
	}
}

// Rules lists every retention rule, in the order the data map shows them.
func Rules() []Rule {
	return []Rule{RuleTTL, RuleDeleted, RuleSanitize, RulePurgeOnDisconnect, RulePurgeOnClosure, RuleErasure, RuleUserErasure, RuleKept}
}

// Retention is one rule an item kind falls under, and how it applies.
type Retention struct {
	Rule   Rule
	Detail string
}

// ItemKind is one kind of item in the table.
type ItemKind struct {
	// Name names the kind as docs/data-model.md does.
	Name string
	// Item is the zero value of the struct the kind is written from, or nil
	// for an item written only by update expressions.
	Item any
	// PK and SK are the key patterns, as docs/data-model.md writes them.
	PK, SK string
	// Fields classifies every attribute, by name (nested ones as
	// "media.id").
	Fields map[string]Field
	// Retention lists the rules the kind falls under.
	Retention []Retention
	// Readers says who and what reads the item.
	Readers string
}

// Attributes lists the kind's attribute names: its struct's dynamodbav
// tags (nested structs as "parent.child"), then the update-only ones, each
// group sorted.
func (k ItemKind) Attributes() []string {
	var out []string
	if k.Item != nil {
		out = structAttributes(reflect.TypeOf(k.Item), "")
	}
	var upd []string
	for name, f := range k.Fields {
		if f.UpdateOnly {
			upd = append(upd, name)
		}
	}
	sort.Strings(upd)
	return append(out, upd...)
}

// StructName is the name of the kind's item struct ("" when none).
func (k ItemKind) StructName() string {
	if k.Item == nil {
		return ""
	}
	return reflect.TypeOf(k.Item).Name()
}

var timeType = reflect.TypeOf(time.Time{})

func structAttributes(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("dynamodbav"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != timeType {
			out = append(out, structAttributes(ft, prefix+name+".")...)
			continue
		}
		out = append(out, prefix+name)
	}
	sort.Strings(out)
	return out
}

// Field shorthands for the registry.
var (
	sysF   = Field{Source: System}
	keyF   = Field{Source: System, Note: "key"}
	ttlF   = Field{Source: System, Note: "expiry, epoch seconds"}
	userF  = Field{Source: User}
	metaF  = Field{Source: Meta}
	typeF  = Field{Source: System, Note: "item kind"}
	idRefF = Field{Source: System, Note: "id of another item"}
)

func personal(src Source, note string) Field { return Field{Personal: true, Source: src, Note: note} }

// updated marks f as set by update expressions only.
func updated(f Field) Field { f.UpdateOnly = true; return f }

// keyWith is a key that embeds personal data from src.
func keyWith(src Source, note string) Field {
	return Field{Personal: true, Source: src, Note: "key; embeds " + note}
}

// Reader descriptions shared by several kinds.
const (
	readLead     = "the org's users who may see the lead (owner, admin, manager, viewer; an agent only its assigned leads) through the API; ingest, sender, campaigns and automations in the functions"
	readOrgAdmin = "the org's owners and admins through the API"
	readSystem   = "the functions only (no route returns it)"
)

// Retention shorthands shared by several kinds.
var (
	closure = Retention{RulePurgeOnClosure, "with everything of the org, 90 days after the account is closed"}
	erasure = Retention{RuleErasure, "when the lead asks for its data to be deleted (a data-subject request of type erasure)"}
	userErr = Retention{RuleUserErasure, "when the user asks for its data to be deleted"}
	// withLead: deleting the lead removes the item (leaddelete.go).
	withLead = Retention{RuleDeleted, "with its lead (DELETE /v1/leads/{id})"}
)

func ttlRule(detail string) Retention { return Retention{RuleTTL, detail} }

// The tags a lead merge leaves on the history items it moved (merges.go),
// written with the moved item, in no item struct.
var (
	mergeIDF   = Field{Source: System, UpdateOnly: true, Note: "the merge that moved the item to this lead"}
	mergePrevF = Field{Source: System, UpdateOnly: true, Note: "earlier merges that moved it, latest last"}
)

// DataMap returns the registry: every item kind of the table.
func DataMap() []ItemKind {
	msgTTL := ttlRule("12 months after the message (WhatsApp limit of the privacy policy; email shares it, see ttl.go)")
	return []ItemKind{
		{Name: "retention settings", Item: retentionSettingsItem{}, PK: "ORG#<org>", SK: "RETENTION#settings",
			Fields: map[string]Field{"PK": keyF, "SK": keyF, "GSI1PK": keyF, "GSI1SK": keyF, "type": typeF, "org_id": idRefF,
				"content_days": userF, "updated_at": sysF, "updated_by": idRefF},
			Retention: []Retention{closure}, Readers: readOrgAdmin + "; the retention function"},
		{Name: "unfinished retention run", Item: retentionRunItem{}, PK: "RETENTION#RUN", SK: "<job>",
			Fields: map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "as_of": sysF, "done_org": idRefF, "org": idRefF,
				"org_count": sysF, "started_at": sysF},
			Retention: []Retention{{RuleDeleted, "when the run finishes"}}, Readers: readSystem},
		{Name: "org", Item: orgItem{}, PK: "ORG#<org>", SK: "ORG",
			Fields: map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "id": sysF, "name": userF, "default_region": userF, "created_at": sysF,
				"timezone": userF, "business_hours": userF, "updated_at": sysF,
				"mfa_required_for_admins": {Source: User, Note: "PUT /v1/org/security"},
				"plan":                    {Source: System, Note: "the org's plan (free, growth, business), set by the operator (tools/plan); absent is free"},
				"closed_at":               {Source: System, Note: "set while the account is closed (POST /v1/org/close); removed on reopen"},
				"GSI1PK":                  {Source: System, Note: "key; CLOSED#ORGS while the account is closed (the purge after 90 days finds it there)"}, "GSI1SK": keyF},
			Retention: []Retention{closure}, Readers: "the org's users (GET /v1/me, GET /v1/org); the api and account functions; ingest (default_region)"},
		{Name: "user", Item: userItem{}, PK: "ORG#<org>", SK: "USER#<user>",
			Fields: map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "id": sysF, "org_id": idRefF,
				"name": personal(User, "the user's name"), "email": personal(User, "login email"), "role": userF, "active": userF,
				"password_hash": personal(User, "argon2id hash, never the password"), "created_at": sysF, "updated_at": sysF,
				"GSI1PK": {Source: System, Note: "key; OWNERS while the user is an active owner (policy notices)"}, "GSI1SK": keyF,
				"org_closed_at":     {Source: System, Note: "mirror of the org's closed_at, so the per-request user read refuses a closed org"},
				"access_revoked_at": {Source: System, Note: "access tokens issued until then are refused (set on closure, kept on reopen, set on a password reset)"},
				"email_verified_at": {Source: System, Note: "when the user proved the email (verification link, accepted invitation, password reset); absent while unverified"},
				"unavailable":       {Source: User, Note: "the user marked itself away (PATCH /v1/me); an assignment rule with only_available skips it"},

				"mfa_enabled_at": {Source: System, Note: "when the user turned two-factor sign-in on; absent while off"}},
			Retention: []Retention{closure, userErr},
			Readers:   "the org's users (GET /v1/users, without the hash); the account function for login, the api and account functions on every request"},
		{Name: "login email guard", Item: emailItem{}, PK: "EMAIL#<email>", SK: "EMAIL",
			Fields:    map[string]Field{"PK": keyWith(User, "the login email"), "SK": keyF, "type": typeF, "user_id": idRefF, "org_id": idRefF},
			Retention: []Retention{closure, userErr}, Readers: "the account function (login, sign-up, adding users)"},
		{Name: "lead", Item: leadItem{}, PK: "ORG#<org>", SK: "LEAD#<lead ulid>",
			Fields: map[string]Field{"PK": keyF, "SK": keyF, "GSI1PK": keyF, "GSI1SK": keyF, "GSI2PK": keyF, "GSI2SK": keyF, "type": typeF,
				"id": sysF, "org_id": idRefF, "name": personal(User|Meta, ""), "phone": personal(User|Meta, "E.164"),
				"email": personal(User|Meta, ""), "source": sysF, "status": userF, "tags": userF,
				"custom_fields": personal(User|Meta, "form answers and fields users add"), "assignee_id": idRefF, "created_by": idRefF,
				"created_at": sysF, "updated_at": sysF, "version": sysF, "last_inbound_at": personal(Meta, "time of the lead's last WhatsApp message"),
				"edited_at":                   {Source: System, Note: "when a user last changed the lead; a lead nobody edited may be purged whole with its integration"},
				"consent":                     personal(System, "current consent per channel and purpose, from the consent ledger"),
				"provenance.integration_kind": metaF, "provenance.integration_id": metaF,
				"provenance.leadgen_id": personal(Meta, "Meta's id of the person's form submission"), "provenance.form_id": metaF,
				"provenance.ad_id": metaF, "provenance.adset_id": metaF, "provenance.campaign_id": metaF,
				"provenance.fields":       {Source: System, Note: "which fields came from Meta"},
				"attribution.source_type": metaF, "attribution.source_id": metaF,
				"attribution.source_url": personal(Meta, "the ad or post the person tapped before writing (Click-to-WhatsApp)"),
				"attribution.ctwa_clid":  personal(Meta, "Meta's id of the person's tap on a Click-to-WhatsApp ad"),
				"pipeline_id":            idRefF, "stage_id": {Source: User, Note: "the lead's stage in its pipeline"},
				"GSI3PK": {Source: System, Note: "key; files the lead in its pipeline stage's board column"}, "GSI3SK": keyF,
				"search_name": personal(User|Meta, "the name lower-cased, for the search"),
				"cf_guards":   {Source: System, Note: "keys of the unique custom fields whose guard the lead holds"},
				"phones":      personal(User|Meta, "secondary phones (E.164) a merge brought"),
				"emails":      personal(User|Meta, "secondary emails a merge brought")},
			Retention: []Retention{{RuleDeleted, "DELETE /v1/leads/{id}"},
				{RulePurgeOnDisconnect, "the fields named in provenance.fields, the attribution and the ad, ad set, campaign and form ids, when the integration it names is disconnected"}, closure, erasure},
			Readers: readLead},
		{Name: "pipeline", Item: pipelineItem{}, PK: "ORG#<org>", SK: "PIPELINE#<default or pipeline ulid>",
			Fields: map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "id": sysF, "org_id": idRefF, "name": userF,
				"stages":     {Source: User, Note: "ordered stages: id, name, kind (open, won, lost), the status leads take there"},
				"created_at": sysF, "updated_at": sysF, "version": sysF},
			Retention: []Retention{{RuleDeleted, "DELETE /v1/pipelines/{id}"}, closure},
			Readers:   "the org's users through the API (GET /v1/pipelines); the api and ingest functions place leads by it"},
		{Name: "lead merge", Item: mergeItem{}, PK: "ORG#<org>", SK: "MERGE#<merge ulid>",
			Fields: map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "id": sysF, "org_id": idRefF, "survivor_id": idRefF, "other_id": idRefF,
				"state":            {Source: System, Note: "pending, done, undoing, undone"},
				"survivor":         personal(User|Meta, "the surviving lead as it was before the merge (a lead item)"),
				"other":            personal(User|Meta, "the absorbed lead as it was before the merge (a lead item)"),
				"merged":           personal(User|Meta, "the surviving lead as the merge wrote it (a lead item)"),
				"survivor_conv":    personal(User|Meta, "the survivor's conversation summary before the merge"),
				"other_conv":       personal(User|Meta, "the absorbed lead's conversation summary before the merge"),
				"merged_conv_last": idRefF, "leads_written": sysF, "by": idRefF, "at": sysF, "expires_at": sysF,
				"undone_by": idRefF, "undone_at": sysF, "moved": sysF, "ttl": ttlF},
			Retention: []Retention{ttlRule("31 days after the merge (its 30-day undo window and a day)"),
				{RuleDeleted, "with either lead (DELETE /v1/leads/{id} of the survivor)"}, closure, erasure},
			Readers: "the api function (POST /v1/leads/{id}/merge, POST /v1/merges/{merge_id}/undo)"},
		{Name: "lead phone guard", Item: guardItem{}, PK: "ORG#<org>", SK: "UNIQ#PHONE#<e164>",
			Fields:    map[string]Field{"PK": keyF, "SK": keyWith(User|Meta, "the lead's phone"), "type": typeF, "lead_id": idRefF},
			Retention: []Retention{{RuleDeleted, "with its lead, or when the lead's phone changes"}, closure, erasure},
			Readers:   "the api and ingest functions (duplicate checks, finding a WhatsApp sender's lead)"},
		{Name: "lead email guard", Item: guardItem{}, PK: "ORG#<org>", SK: "UNIQ#EMAIL#<email>",
			Fields:    map[string]Field{"PK": keyF, "SK": keyWith(User|Meta, "the lead's email"), "type": typeF, "lead_id": idRefF},
			Retention: []Retention{{RuleDeleted, "with its lead, or when the lead's email changes"}, closure, erasure},
			Readers:   "the api and ingest functions (duplicate checks)"},
		{Name: "lead canonical email entry", Item: canonEmailItem{}, PK: "ORG#<org>", SK: "CANON#EMAIL#<canonical email>#<lead>",
			Fields:    map[string]Field{"PK": keyF, "SK": keyWith(User|Meta, "the canonical form of the lead's email (without +tag; Gmail without dots)"), "type": typeF, "lead_id": idRefF},
			Retention: []Retention{{RuleDeleted, "with its lead, or when the lead's email changes"}, closure, erasure},
			Readers:   "the api function (GET /v1/leads/{id}/duplicates)"},
		{Name: "lead custom field guard", Item: guardItem{}, PK: "ORG#<org>", SK: "UNIQ#CF#<key>#<sha256 of the lower-cased value>",
			Fields:    map[string]Field{"PK": keyF, "SK": keyWith(User, "a hash of the lead's value of a unique custom field"), "type": typeF, "lead_id": idRefF},
			Retention: []Retention{{RuleDeleted, "with its lead, when the value changes, or when the field's definition is deleted"}, closure, erasure},
			Readers:   "the api function (duplicate checks)"},
		{Name: "custom field definitions", Item: fieldDefsItem{}, PK: "ORG#<org>", SK: "CUSTOM_FIELDS",
			Fields: map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "fields": {Source: User, Note: "JSON: key, label, type, required, unique, options"},
				"version": sysF, "updated_at": sysF},
			Retention: []Retention{closure}, Readers: "the org's users (GET /v1/custom-fields); the api function on every lead write and answer; ingest and backfill for each new Lead Ads lead"},
		{Name: "lead suppression entry", Item: suppressionItem{}, PK: "ORG#<org>", SK: "SUPPRESS#<hmac-sha256 of the phone or email>",
			Fields: map[string]Field{"PK": keyF,
				"SK":   keyWith(User|Meta, "a keyed HMAC-SHA256 of a deleted lead's E.164 phone or lower-cased email (platform key sealed by KMS, org id mixed in); never the contact itself"),
				"type": typeF, "contact": {Source: System, Note: "phone or email: which contact the key hashes"},
				"opt_outs":   personal(Meta|EmailProvider|User, "the deleted lead's opt-outs per channel:purpose and their times"),
				"sources":    {Source: System, Note: "how each opt-out was expressed (keyword, button, staff, ...), from the consent ledger"},
				"updated_at": sysF},
			Retention: []Retention{{RuleKept, "as the org's proof of the opt-out, to honour it if the person comes back; removed when a later lead for the contact is deleted without opt-outs"}, closure},
			Readers:   "the api, ingest and backfill functions (creating a lead: one GetItem per contact)"},
		{Name: "pending lead purge", Item: pendingPurgeItem{}, PK: "PURGE#LEADS", SK: "<org>#<lead>",
			Fields:    map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "org_id": idRefF, "lead_id": idRefF, "deleted_at": sysF},
			Retention: []Retention{{RuleDeleted, "when the deleted lead's history is gone (in the request, or by the retention function's lead purge job)"}},
			Readers:   readSystem + "; the retention function lists them"},
		{Name: "deletion receipt", Item: deletionReceiptItem{}, PK: "DELETED#ORGS", SK: "<org>",
			Fields: map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "org_id": idRefF, "closed_at": sysF, "started_at": sysF,
				"purged_at": {Source: System, Note: "set when the org is gone; absent while the purge is under way"},
				"counts":    {Source: System, Note: "items removed by kind; no names or contact data"}},
			Retention: []Retention{{RuleKept, "as the record that the closed org's data was deleted"}},
			Readers:   readSystem + "; the retention function writes it"},
		{Name: "data-subject request", Item: privacyRequestItem{}, PK: "ORG#<org>", SK: "PRIVACY#<request ulid>",
			Fields: map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "id": sysF, "org_id": idRefF, "request_type": userF,
				"subject_phone":   personal(User, "the person's E.164 phone as the request names them; blanked when their erasure is done"),
				"subject_email":   personal(User, "the person's email as the request names them; blanked when their erasure is done"),
				"subject_lead_id": idRefF,
				"refs":            {Source: System, Note: "keyed HMAC-SHA256 references of the person's phones and emails (the suppression key); never the contact itself"},
				"lead_ids":        idRefF, "note": personal(User, "free text of staff; blanked when the person's erasure is done"),
				"fields_changed": {Source: User, Note: "names of the fields a correction changed, never their values"},
				"status":         sysF, "reason": sysF, "actor_id": idRefF, "created_at": sysF, "due_at": sysF, "completed_at": sysF,
				"history":               {Source: System, Note: "steps with their time, actor, counts and versions; no contact data or field values"},
				"receipt":               {Source: System, Note: "what an erasure removed, counts by item kind"},
				"export.schema_version": sysF, "export.bytes": sysF, "export.stored": sysF, "export.chunks": sysF, "export.expires_at": sysF,
				"pseudonymized_at": sysF, "version": sysF, "ttl": ttlF},
			Retention: []Retention{ttlRule("3 years after it was filed, as the record that the request was answered (privacy.KeepRequests)"),
				{RuleErasure, "pseudonymized when the person's erasure is done: the subject's phone, email and the note are blanked, the keyed references stay"}, closure},
			Readers: readOrgAdmin + " (GET /v1/privacy-requests)"},
		{Name: "privacy export chunk", Item: privacyChunkItem{}, PK: "ORG#<org>#PRIVACY#<request>", SK: "CHUNK#<seq>",
			Fields: map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "org_id": idRefF, "request_id": idRefF,
				"data": personal(User|Meta|EmailProvider|System, "a piece of the gzip-compressed export document: everything held about the person"),
				"ttl":  ttlF},
			Retention: []Retention{ttlRule("7 days after the export is made, its download period (privacy.ExportAvailable)"),
				{RuleErasure, "with every export about the person when their erasure is done"}, closure},
			Readers: "the owner or admin who filed the request (GET /v1/privacy-requests/{id}/export)"},
		{Name: "lead import", Item: importItem{}, PK: "ORG#<org>", SK: "IMPORT#<import ulid>",
			Fields: map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "id": sysF, "org_id": idRefF, "actor_id": idRefF,
				"file_key": {Source: System, Note: "SHA-256 of the file's bytes and its mapping (finds the same file submitted again); not reversible to the file"},
				"mapping":  {Source: User, Note: "the file's column names and the lead fields they fill; no row values"},
				"status":   sysF, "rows": sysF, "chunks": sysF, "created": sysF, "merged": sysF, "rejected": sysF,
				"done_chunks": {Source: System, Note: "numbers of the chunks counted"}, "queued": {Source: System, Note: "every chunk is on the queue"}, "created_at": sysF, "updated_at": sysF, "finished_at": sysF, "ttl": ttlF},
			Retention: []Retention{ttlRule("30 days after the import (leadimport.Keep)"), closure},
			Readers:   "the org's owners, admins and managers through the API (GET /v1/imports); the importer function"},
		{Name: "lead import key", Item: importKeyItem{}, PK: "ORG#<org>", SK: "IMPORTKEY#<file digest>",
			Fields: map[string]Field{"PK": keyF, "SK": {Source: System, Note: "key; embeds the SHA-256 of the file and its mapping"}, "type": typeF,
				"org_id": idRefF, "import_id": idRefF, "ttl": ttlF},
			Retention: []Retention{ttlRule("30 days after the import (leadimport.Keep)"), {RuleDeleted, "when the file could not be queued (the import failed)"}, closure},
			Readers:   "the api function (POST /v1/imports)"},
		{Name: "lead import row", Item: importRowItem{}, PK: "ORG#<org>#IMPORT#<import>", SK: "ROW#<row, 7 digits>",
			Fields: map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "org_id": idRefF, "import_id": idRefF, "row": sysF,
				"outcome": sysF, "reason": {Source: System, Note: "a reason code (invalid, plan_limit, conflict, too_large); never a value of the row"},
				"field": {Source: System, Note: "the lead field a rejection names (phone, cf.<key>); never its value"}, "ttl": ttlF},
			Retention: []Retention{ttlRule("30 days after the import (leadimport.Keep)"), closure},
			Readers:   "the importer function (each row written once); rejected rows through GET /v1/imports/{id}"},
		{Name: "audit record", Item: auditItem{}, PK: "AUDIT#<org>", SK: "<record ulid>",
			Fields: map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "org_id": idRefF, "actor_id": idRefF, "action": sysF,
				"target_type": sysF, "target_id": idRefF, "outcome": sysF, "source_ip": personal(System, "caller's IP address"),
				"user_agent": personal(System, "caller's browser"), "at": sysF, "details": personal(System, "changed fields, role; a SHA-256 of the email tried at login")},
			Retention: []Retention{closure}, Readers: readOrgAdmin + " (GET /v1/audit)"},
		{Name: "refresh token", Item: refreshItem{}, PK: "REFRESH#<token id>", SK: "REFRESH",
			Fields: map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "family_id": idRefF, "user_id": idRefF, "org_id": idRefF,
				"secret_hash": personal(System, "SHA-256 of the token secret, never the secret"), "used": sysF, "ttl": ttlF},
			Retention: []Retention{ttlRule("when the token expires"), closure}, Readers: "the account function (refresh)"},
		{Name: "session", Item: familyItem{}, PK: "SESSIONS#<user>", SK: "FAMILY#<family id>",
			Fields: map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "id": sysF, "revoked": sysF, "created_at": personal(System, "when the user signed in"), "ttl": ttlF,
				"tokens": sysF},
			Retention: []Retention{ttlRule("when the session family expires"), closure}, Readers: "the account function (refresh, logout)"},
		{Name: "failed-login counter", Item: throttleItem{}, PK: "THROTTLE#LOGIN#<sha256(email)>", SK: "THROTTLE",
			Fields:    map[string]Field{"PK": keyWith(User, "a SHA-256 of the email tried; THROTTLE#LOGIN#mfa-<sha256(user)> counts a user's second-factor codes"), "SK": keyF, "failures": sysF, "window_start": sysF, "ttl": ttlF},
			Retention: []Retention{ttlRule("at the end of the 15-minute window"), {RuleDeleted, "on a successful login (or right code)"}},
			Readers:   "the account function (login, two-factor codes)"},
		{Name: "account request counter", Item: throttleItem{}, PK: "THROTTLE#ACCOUNT#<scope>#<sha256(email, user or client address)>", SK: "THROTTLE",
			Fields: map[string]Field{"PK": keyWith(User|System, "a SHA-256 of the email a password reset names, of the user asking for a verification mail, of the org sending invitations, or of the client's IP address (scope client-<operation id>: its requests to one public route)"),
				"SK": keyF, "failures": {Source: System, Note: "requests counted in the window"}, "window_start": sysF, "ttl": ttlF},
			Retention: []Retention{ttlRule("at the end of its window (15 minutes to an hour)")},
			Readers:   "the account function (password resets, verification mails, invitations, per-client limits of the public routes)"},
		{Name: "one-time account token", Item: accountTokenItem{}, PK: "ACCTOKEN#<sha256(token)>", SK: "TOKEN",
			Fields: map[string]Field{"PK": {Source: System, Note: "key; a SHA-256 of the mailed token, never the token"}, "SK": keyF, "type": typeF,
				"purpose": {Source: System, Note: "invite, password_reset, verify_email or mfa_challenge (the second step of a login)"}, "org_id": idRefF, "user_id": idRefF, "invitation_id": idRefF,
				"created_at": sysF, "ttl": ttlF,
				"GSI1PK": {Source: System, Note: "key; ACCTOKENS#<org>, so the closed org purge finds the org's tokens"}, "GSI1SK": keyF},
			Retention: []Retention{ttlRule("when the token expires: 7 days (invitation, email verification), 1 hour (password reset), 5 minutes (login challenge)"),
				{RuleDeleted, "when the token is used (once), or its invitation revoked"}, closure},
			Readers: "the account function (accepting an invitation, resetting a password, verifying an email, completing a two-factor login)"},
		{Name: "invitation", Item: invitationItem{}, PK: "ORG#<org>", SK: "INVITE#<invitation ulid>",
			Fields: map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "id": sysF, "org_id": idRefF,
				"email": personal(User, "the invitee's email, typed by the inviting owner or admin"), "role": userF, "invited_by": idRefF,
				"status": sysF, "created_at": sysF, "expires_at": sysF, "accepted_by": idRefF, "revoked_by": idRefF, "closed_at": sysF,
				"token_hash": {Source: System, Note: "the key of the invitation's token (a SHA-256), so revoking removes it"}, "ttl": ttlF},
			Retention: []Retention{ttlRule("30 days after the invitation expires (7 days after it was sent), whatever became of it"), closure},
			Readers:   readOrgAdmin + " (GET /v1/invitations)"},
		{Name: "two-factor enrolment", Item: mfaItem{}, PK: "ORG#<org>", SK: "MFA#<user>",
			Fields: map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "org_id": idRefF, "user_id": idRefF,
				"sealed_secret": {Source: System, Encrypted: true, Personal: true, Note: "the user's TOTP secret, KMS envelope (bound to the org)"},
				"enabled":       sysF, "created_at": sysF, "enabled_at": sysF,
				"last_step":      {Source: System, Note: "the TOTP time step of the last code accepted (no replay)"},
				"recovery_codes": personal(System, "SHA-256 hashes of the unused recovery codes, never the codes")},
			Retention: []Retention{{RuleDeleted, "DELETE /v1/me/mfa; a new enrolment replaces an unconfirmed one"}, closure, userErr},
			Readers:   "the account function (confirming, turning off, completing a login); no route returns it"},
		{Name: "API key", Item: apiKeyItem{}, PK: "ORG#<org>", SK: "APIKEY#<key ulid>",
			Fields: map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "id": sysF, "org_id": idRefF, "name": userF, "scopes": userF,
				"prefix":     {Source: System, Note: "the key's first characters (ll_live_ and 6 more), to tell keys apart"},
				"key_hash":   {Source: System, Note: "the key of the lookup item (a SHA-256 of the key), so revoking removes it"},
				"created_by": idRefF, "created_at": sysF, "last_used_at": {Source: System, Note: "written at most once a minute"}},
			Retention: []Retention{{RuleDeleted, "DELETE /v1/api-keys/{id}"}, closure},
			Readers:   readOrgAdmin + " (GET /v1/api-keys, without the hash)"},
		{Name: "API key lookup", Item: apiKeyLookupItem{}, PK: "APIKEY#<sha256(key)>", SK: "KEY",
			Fields: map[string]Field{"PK": {Source: System, Note: "key; a SHA-256 of the API key, never the key"}, "SK": keyF, "type": typeF,
				"id": idRefF, "org_id": idRefF, "scopes": userF},
			Retention: []Retention{{RuleDeleted, "with its API key (DELETE /v1/api-keys/{id})"}, closure},
			Readers:   "the api and account functions (every request made with an API key)"},
		{Name: "sealed platform secret", Item: secretItem{}, PK: "SECRET#<name>", SK: "SECRET",
			Fields:    map[string]Field{"PK": keyF, "SK": keyF, "sealed": {Source: System, Encrypted: true, Note: "KMS envelope"}, "created_at": sysF},
			Retention: []Retention{{RuleKept, "while the platform runs; no personal data"}}, Readers: "the api and account functions on their first request that needs them (the account function creates them); ingest and backfill (the suppression key) at cold start; the sender (the unsubscribe key) on its first email"},
		{Name: "integration", Item: integrationItem{}, PK: "ORG#<org>", SK: "INTEGRATION#<kind>#<page or phone_number_id>",
			Fields: map[string]Field{"PK": keyF, "SK": keyF, "GSI1PK": keyF, "GSI1SK": keyF, "type": typeF, "org_id": idRefF, "kind": sysF,
				"external_id": metaF, "name": {Source: Meta, Note: "page or business name"}, "waba_id": metaF,
				"display_phone_number": {Source: Meta, Note: "the business's number"}, "form_ids": userF,
				"sealed_token": {Source: Meta, Encrypted: true, Note: "Meta access token, KMS envelope"}, "status": sysF,
				"connected_by": idRefF, "connected_at": sysF, "updated_at": sysF, "last_event_at": sysF, "dropped_events": sysF,
				"backfill_since": sysF, "mps": userF},
			Retention: []Retention{{RuleDeleted, "disconnecting removes sealed_token"}, {RulePurgeOnDisconnect, "the profile Meta gave (name, WABA id, display number, forms), unless connected again"}, closure},
			Readers:   "the org's users (GET /v1/integrations, without the token); ingest, backfill and sender"},
		{Name: "integration owner", Item: ownerItem{}, PK: "META#<kind>#<id>", SK: "OWNER",
			Fields:    map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "org_id": idRefF, "status": sysF},
			Retention: []Retention{closure}, Readers: "ingest (routing a webhook event to its org), the account function (connecting)"},
		{Name: "org's own email sender address", Item: emailSenderItem{}, PK: "ORG#<org>", SK: "EMAIL_SENDER",
			Fields:    map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "org_id": idRefF, "email": personal(User, "may be a person's address"), "status": {Source: EmailProvider | System}, "checked_at": sysF, "set_by": idRefF, "set_at": sysF},
			Retention: []Retention{{RuleDeleted, "DELETE /v1/email/sender"}, closure}, Readers: readOrgAdmin + "; sender for every email"},
		{Name: "sender address claim", Item: senderOwnerItem{}, PK: "SENDER#<email>", SK: "OWNER",
			Fields:    map[string]Field{"PK": keyWith(User, "the sender address"), "SK": keyF, "type": typeF, "org_id": idRefF, "verified": {Source: EmailProvider}},
			Retention: []Retention{{RuleDeleted, "when the org forgets or replaces the address"}, closure}, Readers: "the api function (setting the sender address)"},
		{Name: "processed event", Item: eventItem{}, PK: "ORG#<org>", SK: "EVENT#leadgen:<leadgen id>",
			Fields: map[string]Field{"PK": keyF, "SK": keyWith(Meta|EmailProvider, "Meta's leadgen id, the wamid of a message's referral (referral:<wamid>) or the SES id of an opt-out"), "type": typeF,
				"ref": idRefF, "ttl": ttlF},
			Retention: []Retention{ttlRule("30 days after the claim (redelivery horizon, see ttl.go)"), closure},
			Readers:   "ingest and backfill (duplicate checks)"},
		{Name: "parked event", Item: parkedItem{}, PK: "PARKED#<org>#<kind>#<id>", SK: "<event key>",
			Fields: map[string]Field{"PK": keyF, "SK": keyWith(Meta, "Meta's leadgen id"), "type": typeF,
				"payload": personal(Meta, "the webhook change: leadgen, form and ad ids"), "parked_at": sysF, "ttl": ttlF},
			Retention: []Retention{ttlRule("90 days after parking (Meta keeps a lead retrievable that long)"),
				{RuleDeleted, "when replayed on reconnect"}, {RulePurgeOnDisconnect, "events parked for the integration before the disconnection"}, closure},
			Readers: "the account function (replay on reconnect)"},
		{Name: "message", Item: messageItem{}, PK: "ORG#<org>#LEAD#<lead>", SK: "MSG#<ulid from the provider time>",
			Fields: map[string]Field{"merge_id": mergeIDF, "merge_prev": mergePrevF, "PK": keyF, "SK": keyF, "type": typeF, "id": sysF, "org_id": idRefF, "lead_id": idRefF,
				"channel": sysF, "direction": sysF, "provider_id": {Source: Meta | EmailProvider, Note: "wamid or SES id"},
				"msg_type": {Source: User | Meta}, "text": personal(User|Meta, "message body"),
				"media.id": metaF, "media.mime_type": metaF, "media.sha256": metaF,
				"media.caption": personal(Meta, ""), "media.filename": personal(Meta, ""),
				"details": personal(User|Meta, "template, subject, contact and location details"),
				"status":  {Source: System | Meta | EmailProvider}, "status_rank": sysF,
				"error_code": {Source: Meta | EmailProvider}, "error_title": {Source: Meta | EmailProvider},
				"at": personal(User|Meta, "when the lead wrote or was written to"), "number": {Source: System, Note: "the business number"},
				"payload":           personal(User, "the request sent to the provider: recipient and content"),
				"client_message_id": userF, "reason": sysF, "from_meta": sysF, "ttl": ttlF,
				"status_at": {Source: System | Meta | EmailProvider, UpdateOnly: true},
				"GSI3PK":    {Source: System, Note: "key; files an intact message for the content lifecycle"}, "GSI3SK": keyF,
				"sanitized_at": {Source: System, Note: "when the content lifecycle sanitized it"}},
			Retention: []Retention{msgTTL, {RuleSanitize, "after the org's period (default 90 days): body masked and cut to a preview; media, payload and details dropped"},
				{RulePurgeOnDisconnect, "WhatsApp messages of the disconnected number collected before the disconnection"}, withLead, closure, erasure},
			Readers: readLead},
		{Name: "provider id guard", Item: wamidItem{}, PK: "WAMID#<provider id>", SK: "WAMID",
			Fields: map[string]Field{"PK": {Source: Meta | EmailProvider, Note: "key; embeds the wamid or SES id"}, "SK": keyF, "type": typeF, "org_id": idRefF, "lead_id": idRefF, "msg_sk": idRefF, "ttl": ttlF,
				"first.lead":    idRefF,
				"first.channel": personal(Meta, "the consent the lead's first message recorded (channel, purpose, action, source), for its ledger entry"),
				"first.purpose": personal(Meta, ""), "first.action": personal(Meta, ""), "first.source": personal(Meta, "")},
			Retention: []Retention{ttlRule("its message's"), withLead, closure, erasure}, Readers: "ingest (statuses, duplicates, a redelivered first message's creation records), sender"},
		{Name: "status event", Item: statusLogItem{}, PK: "WAMID#<provider id>", SK: "STATUS#<unix time>#<status>",
			Fields: map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "status": personal(Meta|EmailProvider, "delivered, read: the lead's behaviour"),
				"at": personal(Meta|EmailProvider, ""), "error_code": {Source: Meta | EmailProvider}, "error_title": {Source: Meta | EmailProvider},
				"applied": sysF, "ttl": ttlF},
			Retention: []Retention{ttlRule("its message's"), {RulePurgeOnDisconnect, "with its message"}, withLead, closure, erasure}, Readers: readLead},
		{Name: "consent ledger entry", Item: consentItem{}, PK: "ORG#<org>#LEAD#<lead>", SK: "CONSENT#<ulid>",
			Fields: map[string]Field{"merge_id": mergeIDF, "merge_prev": mergePrevF, "PK": keyF, "SK": keyF, "type": typeF, "org_id": idRefF, "lead_id": idRefF, "channel": sysF, "purpose": sysF,
				"action": personal(Meta|EmailProvider|User, "the lead's opt-in or opt-out; User when staff recorded it"), "at": personal(Meta|EmailProvider|User, ""),
				"evidence": personal(Meta|EmailProvider, "id of the message or event that recorded it; suppression when carried from a deleted lead's suppression entry"), "source": sysF,
				"by":     {Source: User, Note: "id of the staff user who recorded it"},
				"reason": personal(User, "why staff recorded it, as they typed it")},
			Retention: []Retention{{RuleKept, "as proof of consent while its lead exists (its opt-outs then stay in a lead suppression entry)"}, withLead, closure, erasure}, Readers: readLead},
		{Name: "privacy policy version", Item: policyVersionItem{}, PK: "POLICY", SK: "VERSION#<version id>",
			Fields:    map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "id": sysF, "effective": sysF, "summary": sysF, "published_at": sysF},
			Retention: []Retention{{RuleKept, "platform-wide record of the policies in force; holds no personal data"}},
			Readers:   "anyone (GET /v1/policy); org owners (GET /v1/me)"},
		{Name: "policy acknowledgement", Item: policyAckItem{}, PK: "ORG#<org>", SK: "POLICY_ACK#<version id>",
			Fields:    map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "org_id": idRefF, "version_id": idRefF, "user_id": idRefF, "at": sysF},
			Retention: []Retention{closure}, Readers: "the org's owners (GET /v1/me); the api function"},
		{Name: "activity", Item: activityItem{}, PK: "ORG#<org>#LEAD#<lead>", SK: "ACT#<ulid>",
			Fields: map[string]Field{"merge_id": mergeIDF, "merge_prev": mergePrevF, "PK": keyF, "SK": keyF, "type": typeF, "org_id": idRefF, "lead_id": idRefF, "kind": sysF,
				"at": sysF, "actor_id": {Source: User, Note: "id of the staff user who did it; absent for the system"},
				"details":   personal(User|Meta, "a repeated Lead Ads submission's ids; a Click-to-WhatsApp referral (ad id, URL, click id, number, wamid); a created lead's source, status, assignee; a note's id"),
				"changes":   personal(User, "a change's fields with old and new values (name, phone, email, tags, custom fields, ...); an old value that came from Meta is not kept; values a later data-subject correction said were wrong are scrubbed"),
				"from_meta": sysF},
			Retention: []Retention{{RulePurgeOnDisconnect, "Lead Ads activities (from_meta) of the disconnected page; referral activities of the disconnected number"}, withLead, closure, erasure}, Readers: readLead},
		{Name: "note", Item: noteItem{}, PK: "ORG#<org>#LEAD#<lead>", SK: "NOTE#<ulid>",
			Fields: map[string]Field{"merge_id": mergeIDF, "merge_prev": mergePrevF, "PK": keyF, "SK": keyF, "type": typeF, "org_id": idRefF, "lead_id": idRefF, "author_id": idRefF,
				"body": personal(User, "free text staff wrote about the lead"), "created_at": sysF, "updated_at": sysF, "version": sysF},
			Retention: []Retention{{RuleDeleted, "when its author or a manager deletes it (DELETE /v1/leads/{id}/notes/{note_id})"}, withLead, closure, erasure}, Readers: readLead},
		{Name: "task", Item: taskItem{}, PK: "ORG#<org>#LEAD#<lead>", SK: "TASK#<ulid>",
			Fields: map[string]Field{"merge_id": mergeIDF, "merge_prev": mergePrevF, "PK": keyF, "SK": keyF, "type": typeF, "org_id": idRefF, "lead_id": idRefF,
				"title": personal(User, "what staff have to do about the lead, in their words"), "due_at": sysF, "assignee_id": idRefF,
				"status": sysF, "remind_before_minutes": userF, "reminder_sent_at": sysF, "created_by": idRefF, "created_at": sysF,
				"updated_at": sysF, "completed_at": sysF, "completed_by": idRefF, "version": sysF,
				"GSI1PK": {Source: System, Note: "key; TASKS#<org>#<assignee>#<status> (GET /v1/tasks)"}, "GSI1SK": keyF,
				"GSI3PK": {Source: System, Note: "key; REMINDERS while its reminder is to come (the reminder job)"}, "GSI3SK": keyF},
			Retention: []Retention{{RuleDeleted, "when a user deletes it (DELETE /v1/leads/{id}/tasks/{task_id})"}, withLead, closure, erasure}, Readers: readLead},
		{Name: "appointment", Item: appointmentItem{}, PK: "ORG#<org>#LEAD#<lead>", SK: "APPT#<ulid>",
			Fields: map[string]Field{"merge_id": mergeIDF, "merge_prev": mergePrevF, "PK": keyF, "SK": keyF, "type": typeF, "org_id": idRefF, "lead_id": idRefF, "starts_at": sysF, "ends_at": sysF,
				"location": personal(User, "where staff meet the lead (may be the lead's address)"),
				"notes":    personal(User, "free text staff wrote about the meeting"), "assignee_id": idRefF, "status": sysF,
				"remind_before_minutes": userF, "reminder_sent_at": sysF, "created_by": idRefF, "created_at": sysF, "updated_at": sysF,
				"cancelled_at": sysF, "cancelled_by": idRefF, "version": sysF,
				"GSI1PK": {Source: System, Note: "key; APPTS#<org>#<assignee> while booked (the overlap check)"}, "GSI1SK": keyF,
				"GSI3PK": {Source: System, Note: "key; REMINDERS while its reminder is to come (the reminder job)"}, "GSI3SK": keyF},
			Retention: []Retention{withLead, closure, erasure}, Readers: readLead},
		{Name: "notification", Item: notificationItem{}, PK: "NOTIFY#<org>", SK: "NOTIF#<user>#<ulid>",
			Fields: map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "org_id": idRefF, "user_id": idRefF, "id": sysF, "kind": sysF,
				"lead_id": idRefF, "task_id": idRefF, "appointment_id": idRefF, "limit": {Source: System, Note: "the plan limit of a plan_over_limit notice"},
				"due_at": sysF, "created_at": sysF, "read_at": sysF, "ttl": ttlF,
				"GSI2PK": {Source: System, Note: "key; NOTIFY#<org>#<user>#UNREAD while unread"}, "GSI2SK": keyF},
			Retention: []Retention{ttlRule("90 days after it is made (lead.NotificationRetention)"), closure},
			Readers:   "the user it is for (GET /v1/notifications); the retention function writes reminders, the api, ingest and sender functions plan notices"},
		{Name: "outbound idempotency guard", Item: clientMessageItem{}, PK: "ORG#<org>", SK: "CLIENTMSG#<client message id>",
			Fields:    map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "lead_id": idRefF, "msg_sk": idRefF, "ttl": ttlF},
			Retention: []Retention{ttlRule("30 days after queueing; a campaign message's guard lives as long as its message"), withLead, closure},
			Readers:   "the api function (repeated sends), campaigns (outcome counts)"},
		{Name: "campaign", Item: campaignItem{}, PK: "ORG#<org>", SK: "CAMPAIGN#<ulid>",
			Fields: map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "org_id": idRefF, "id": sysF, "name": userF, "status": sysF,
				"template_name": userF, "template_language": userF, "template_category": metaF, "phone_number_id": userF,
				"parameters": userF, "filter_status": userF, "filter_tag": userF, "filter_source": userF, "filter_assignee_id": idRefF,
				"page_size": sysF, "cursor": {Source: System, Note: "position in the lead listing"}, "version": sysF, "matched": sysF,
				"queued": sysF, "skipped": sysF, "created_by": idRefF, "created_at": sysF, "updated_at": sysF},
			Retention: []Retention{closure}, Readers: "the org's owners, admins and managers through the API; the api function's campaign pages"},
		{Name: "automation settings", Item: automationSettingsItem{}, PK: "ORG#<org>", SK: "AUTOMATION#settings",
			Fields:    map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "settings": {Source: User, Note: "JSON: hours, templates, texts"}, "updated_at": sysF},
			Retention: []Retention{closure}, Readers: readOrgAdmin + "; ingest (automatic replies)"},
		{Name: "consent mapping", Item: consentMappingItem{}, PK: "ORG#<org>", SK: "CONSENT_MAPPING",
			Fields: map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "mapping": {Source: User, Note: "JSON: form question keys, yes answers, channel and purpose"},
				"updated_at": sysF, "updated_by": idRefF},
			Retention: []Retention{closure}, Readers: readOrgAdmin + "; ingest (Lead Ads opt-ins)"},
		{Name: "assignment rule", Item: assignmentRuleItem{}, PK: "ORG#<org>", SK: "ASSIGNMENT_RULE",
			Fields: map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "org_id": idRefF, "rule_type": userF, "user_ids": idRefF,
				"only_available": userF, "updated_at": sysF, "updated_by": idRefF,
				"turn":    {Source: System, Note: "the round robin's turn counter"},
				"tickets": {Source: System, Note: "turns taken for intake events whose lead is being written, by a SHA-256 of the event key (never the Meta id); removed once the lead is written"}},
			Retention: []Retention{closure}, Readers: "the org's owners, admins and managers (GET /v1/assignment-rule); the api and ingest functions (assigning new leads)"},
		{Name: "conversation summary", Item: conversationItem{}, PK: "ORG#<org>#LEAD#<lead>", SK: "CONV",
			Fields: map[string]Field{"PK": keyF, "SK": keyF, "GSI1PK": keyF, "GSI1SK": keyF, "GSI2PK": keyF, "GSI2SK": keyF, "type": typeF,
				"org_id": idRefF, "lead_id": idRefF, "assignee_id": idRefF, "last_id": idRefF, "last_at": personal(User|Meta, "time of the latest message"),
				"unread": sysF, "read_at": sysF, "last_inbound_at": personal(Meta, "time of the person's latest WhatsApp message (the 24-hour window)")},
			Retention: []Retention{{RuleDeleted, "with its lead"}, closure, erasure}, Readers: readLead + " (GET /v1/conversations)"},
		{Name: "send-rate window", PK: "RATE#<phone_number_id>[#S<shard>]", SK: "<unix second>",
			Fields: map[string]Field{"PK": updated(keyF), "SK": updated(keyF), "count": {Source: System, UpdateOnly: true},
				"ttl": {Source: System, Note: "expiry, epoch seconds", UpdateOnly: true}},
			Retention: []Retention{ttlRule("two minutes after the window")}, Readers: "sender (pacing)"},
		{Name: "per-recipient send schedule", PK: "RATE#<number>#TO#<wa_id>", SK: "PAIR",
			Fields: map[string]Field{"PK": updated(keyWith(User|Meta, "the recipient's WhatsApp id (phone)")), "SK": updated(keyF), "tat": {Source: System, UpdateOnly: true},
				"ttl": {Source: System, Note: "expiry, epoch seconds", UpdateOnly: true}},
			Retention: []Retention{ttlRule("a day after the last send")}, Readers: "sender (pacing)"},
		{Name: "API key request bucket", PK: "RATE#APIKEY#<key>", SK: "BUCKET",
			Fields: map[string]Field{"PK": updated(keyF), "SK": updated(keyF), "type": updated(typeF),
				"tat": {Source: System, UpdateOnly: true, Note: "the token bucket's theoretical arrival time, Unix ms (shared/ratelimit)"},
				"ttl": {Source: System, Note: "expiry, epoch seconds", UpdateOnly: true}},
			Retention: []Retention{ttlRule("a minute after the bucket is full again"), closure}, Readers: "the api and account functions (each API key's request limit)"},
		{Name: "org request bucket", PK: "USAGE#<org>#<shard>", SK: "BUCKET#api_requests",
			Fields: map[string]Field{"PK": updated(keyF), "SK": updated(keyF), "type": updated(typeF),
				"tat": {Source: System, UpdateOnly: true, Note: "the token bucket's theoretical arrival time, Unix ms (shared/ratelimit)"},
				"ttl": {Source: System, Note: "expiry, epoch seconds", UpdateOnly: true}},
			Retention: []Retention{ttlRule("a minute after the bucket is full again"), closure}, Readers: "the api and account functions (the plan's API request rate)"},
		{Name: "plan usage counter", Item: usageItem{}, PK: "USAGE#<org>#<shard>", SK: "<limit>#<period>",
			Fields: map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "org_id": idRefF, "metric": sysF, "period": sysF,
				"count": {Source: System, Note: "uses of the limit in the period"}, "over": {Source: System, Note: "uses kept past the limit (never refused)"},
				"ttl": ttlF},
			Retention: []Retention{ttlRule("two minutes (per-minute) or 35 days (per day, per month) after the period ends"), closure},
			Readers:   "the api and account functions (plan limits; the account function answers GET /v1/usage)"},
		{Name: "plan use marker", Item: useMarkerItem{}, PK: "USAGE#<org>#0", SK: "TAKEN#<limit>#<period>#<client message id>",
			Fields:    map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "org_id": idRefF, "metric": sysF, "period": sysF, "ttl": ttlF},
			Retention: []Retention{ttlRule("35 days after the period ends, as its counter"), closure},
			Readers:   "the api, ingest and sender functions (a campaign or automation message counted once)"},
		{Name: "plan notice marker", Item: noticeMarkerItem{}, PK: "USAGE#<org>#0", SK: "NOTICE#<kind>#<limit>#<period>",
			Fields:    map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "org_id": idRefF, "metric": sysF, "period": sysF, "ttl": ttlF},
			Retention: []Retention{ttlRule("35 days after the period ends"), closure},
			Readers:   "the api, ingest and sender functions (each plan notice once per org, limit and period)"},
		{Name: "plan gauge", Item: gaugeItem{}, PK: "USAGE#<org>#0", SK: "GAUGE#<limit>",
			Fields: map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "org_id": idRefF, "metric": sysF,
				"count": {Source: System, Note: "active users, running campaigns or connected integrations now"}},
			Retention: []Retention{closure},
			Readers:   "the api and account functions (plan limits; the account function answers GET /v1/usage)"},
		{Name: "email-rate window per org", PK: "RATE#EMAIL#<org>", SK: "<unix second>",
			Fields: map[string]Field{"PK": updated(keyF), "SK": updated(keyF), "count": {Source: System, UpdateOnly: true},
				"ttl": {Source: System, Note: "expiry, epoch seconds", UpdateOnly: true}},
			Retention: []Retention{ttlRule("three minutes after the window starts")}, Readers: "the api function (the per-org email limit)"},
		{Name: "saved booking of a pair slot", Item: bookingItem{}, PK: "RATE#BOOKING#<org>#<message>", SK: "BOOKING",
			Fields:    map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "at": sysF, "ttl": ttlF},
			Retention: []Retention{ttlRule("a day after the slot"), {RuleDeleted, "when the message takes its slot"}}, Readers: "sender (pacing)"},
		{Name: "integration purge", Item: integrationPurgeItem{}, PK: "ORG#<org>", SK: "PURGE#INTEGRATION#<kind>#<page or phone_number_id>",
			Fields: map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "org_id": idRefF, "kind": sysF, "external_id": metaF,
				"state": {Source: System, Note: "pending, running, done"}, "disconnected_at": {Source: System, Note: "only what was collected before it is purged"},
				"started_at": sysF, "finished_at": sysF, "counts": {Source: System, Note: "items removed by kind; no content"},
				"phase": sysF, "cursor": {Source: System, Note: "the last lead done (a lead id)"}},
			Retention: []Retention{{RuleKept, "as the record of what the disconnection purged (GET /v1/integrations shows it); replaced by the next disconnection"}, closure},
			Readers:   "the org's users (GET /v1/integrations: the integration's purge); the retention function"},
		{Name: "pending integration purge", Item: pendingIntegrationPurgeItem{}, PK: "PURGE#INTEGRATIONS", SK: "<org>#<kind>#<page or phone_number_id>",
			Fields: map[string]Field{"PK": keyF, "SK": keyF, "type": typeF, "org_id": idRefF, "kind": sysF, "external_id": metaF,
				"disconnected_at": sysF},
			Retention: []Retention{{RuleDeleted, "when the integration's purge is done"}, closure},
			Readers:   readSystem + "; the retention function lists them"},
	}
}
