package lead

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
)

// Custom field definitions: an org names the custom fields its leads
// carry, each with a type; every lead write through lead.Service is
// checked against them (CheckCustomFields). Values stay strings on the
// lead, in a canonical form per type (see FieldType).

// FieldType is the type of a custom field.
type FieldType string

// Field types and the canonical form of their values on a lead.
const (
	// FieldText is any text (trimmed, at most MaxCustomValueLen bytes).
	FieldText FieldType = "text"
	// FieldNumber is a decimal number, canonical as Go's shortest
	// representation ("12.5", "-3", "1000000").
	FieldNumber FieldType = "number"
	// FieldDate is a calendar date, YYYY-MM-DD.
	FieldDate FieldType = "date"
	// FieldSingleSelect is one of the field's option values.
	FieldSingleSelect FieldType = "single_select"
	// FieldMultiSelect is one or more option values, comma-separated, in
	// the order the options are defined.
	FieldMultiSelect FieldType = "multi_select"
	// FieldBoolean is "true" or "false" (written also as yes or no).
	FieldBoolean FieldType = "boolean"
)

// FieldTypes lists every field type.
var FieldTypes = []FieldType{FieldText, FieldNumber, FieldDate, FieldSingleSelect, FieldMultiSelect, FieldBoolean}

// Valid reports whether t is a known field type.
func (t FieldType) Valid() bool { return slices.Contains(FieldTypes, t) }

// selects reports whether values of t are option values.
func (t FieldType) selects() bool { return t == FieldSingleSelect || t == FieldMultiSelect }

// Uniqueable reports whether a field of type t may be unique (text,
// number, date).
func (t FieldType) Uniqueable() bool { return t == FieldText || t == FieldNumber || t == FieldDate }

// FieldOption is one choice of a select field: Value is what a lead
// stores (fixed once defined), Label what people see (may be renamed).
type FieldOption struct {
	Value string `json:"value"`
	Label string `json:"label"`
}

// FieldDef defines one custom field of an org's leads.
type FieldDef struct {
	Key       string        `json:"key"`
	Label     string        `json:"label"`
	Type      FieldType     `json:"type"`
	Required  bool          `json:"required"`
	Unique    bool          `json:"unique"`
	Options   []FieldOption `json:"options,omitempty"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
}

// FieldDefs is an org's custom field definitions, in creation order, at a
// version (0: the org never defined one).
type FieldDefs struct {
	Fields  []FieldDef
	Version int
}

// Get returns the definition of key.
func (d FieldDefs) Get(key string) (FieldDef, bool) {
	for _, f := range d.Fields {
		if f.Key == key {
			return f, true
		}
	}
	return FieldDef{}, false
}

// Limits on custom field definitions.
const (
	MaxFieldDefs         = 100
	MaxFieldLabelLen     = 100
	MaxFieldOptions      = 50
	MaxFieldOptionLen    = 64
	MaxFieldOptionsInAll = 1000
	// MaxUniqueFields bounds the unique fields of an org: a lead write
	// claims one guard per unique field in its transaction.
	MaxUniqueFields = 10
)

var fieldKeyPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// Sentinel errors of custom field definitions.
var (
	ErrFieldNotFound = errors.New("custom field not found")
	ErrFieldExists   = errors.New("custom field already defined")
	// ErrFieldDefsChanged means the definitions changed since they were
	// read (the store's optimistic check).
	ErrFieldDefsChanged = errors.New("custom field definitions changed")
	// ErrFieldInUse means leads already hold values for a key that is to be
	// defined unique.
	ErrFieldInUse = errors.New("leads already hold values for this key")
)

// FieldErrors are several validation failures at once (each Field names
// "custom_fields.<key>").
type FieldErrors []*FieldError

func (e FieldErrors) Error() string {
	parts := make([]string, 0, len(e))
	for _, fe := range e {
		parts = append(parts, fe.Error())
	}
	return strings.Join(parts, "; ")
}

// FieldDefStore keeps an org's custom field definitions
// (dynamostore.Store).
type FieldDefStore interface {
	// FieldDefs returns the org's definitions (zero FieldDefs when none).
	FieldDefs(ctx context.Context, orgID string) (FieldDefs, error)
	// PutFieldDefs replaces the org's definitions by next if they are still
	// at version prev (else ErrFieldDefsChanged); next.Version is prev+1.
	PutFieldDefs(ctx context.Context, orgID string, prev int, next FieldDefs) error
	// LeadsHoldField reports whether any lead of the org has a value for
	// the custom field key.
	LeadsHoldField(ctx context.Context, orgID, key string) (bool, error)
	// DropFieldGuards removes the unique guards of key in the org.
	DropFieldGuards(ctx context.Context, orgID, key string) (int, error)
}

// Audit actions of custom field definitions.
const (
	ActionFieldCreate = "custom_field.create"
	ActionFieldUpdate = "custom_field.update"
	ActionFieldDelete = "custom_field.delete"
)

// FieldService is what users do with custom field definitions: everyone
// reads them, an owner or admin writes them; writes are audited.
type FieldService struct {
	Store FieldDefStore
	Audit Auditor
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// FieldPatch changes a definition: nil fields stay. AddOptions appends
// options; RenameOptions maps option values to new labels.
type FieldPatch struct {
	Label         *string
	Required      *bool
	AddOptions    []FieldOption
	RenameOptions map[string]string
}

func (s *FieldService) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func deniedField(action, key string) error {
	return &DeniedError{Action: action, LeadID: key, Reason: "only an owner or admin can change custom field definitions"}
}

// fieldDefsMemo is an org's definitions as first read in a request
// (WithFieldDefsMemo).
type fieldDefsMemo struct {
	mu    sync.Mutex
	orgID string
	defs  FieldDefs
	read  bool
}

type fieldDefsMemoKey struct{}

// WithFieldDefsMemo returns a context in which ReadFieldDefs reads an
// org's custom field definitions once: a lead write checks the lead
// against them and answers its custom_field_issues with the same read.
// Use it for one request that does not change the definitions.
func WithFieldDefsMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, fieldDefsMemoKey{}, &fieldDefsMemo{})
}

// ReadFieldDefs reads the org's definitions through r, or returns those
// read before under the same WithFieldDefsMemo context. A failed read is
// not kept.
func ReadFieldDefs(ctx context.Context, r FieldDefReader, orgID string) (FieldDefs, error) {
	m, _ := ctx.Value(fieldDefsMemoKey{}).(*fieldDefsMemo)
	if m == nil {
		return r.FieldDefs(ctx, orgID)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.read && m.orgID == orgID {
		return m.defs, nil
	}
	d, err := r.FieldDefs(ctx, orgID)
	if err != nil {
		return FieldDefs{}, err
	}
	m.orgID, m.defs, m.read = orgID, d, true
	return d, nil
}

// List returns the org's definitions.
func (s *FieldService) List(ctx context.Context, u account.User) ([]FieldDef, error) {
	d, err := ReadFieldDefs(ctx, s.Store, u.OrgID)
	if err != nil {
		return nil, fmt.Errorf("read custom fields: %w", err)
	}
	return d.Fields, nil
}

// change reads the definitions, applies fn and writes them back, reading
// again when they changed meanwhile (a few times).
func (s *FieldService) change(ctx context.Context, orgID string, fn func(*FieldDefs) error) error {
	for attempt := 1; ; attempt++ {
		d, err := s.Store.FieldDefs(ctx, orgID)
		if err != nil {
			return fmt.Errorf("read custom fields: %w", err)
		}
		next := FieldDefs{Fields: slices.Clone(d.Fields), Version: d.Version + 1}
		if err := fn(&next); err != nil {
			return err
		}
		err = s.Store.PutFieldDefs(ctx, orgID, d.Version, next)
		if !errors.Is(err, ErrFieldDefsChanged) || attempt == updateAttempts {
			if err != nil {
				return fmt.Errorf("write custom fields: %w", err)
			}
			return nil
		}
	}
}

// Create defines a new custom field.
func (s *FieldService) Create(ctx context.Context, u account.User, f FieldDef) (FieldDef, error) {
	if !u.Role.Privileged() {
		return FieldDef{}, deniedField(ActionFieldCreate, "")
	}
	f.Label = strings.TrimSpace(f.Label)
	if f.Label == "" {
		f.Label = f.Key
	}
	for i := range f.Options {
		f.Options[i] = trimOption(f.Options[i])
	}
	if err := ValidateFieldDef(f); err != nil {
		return FieldDef{}, err
	}
	if f.Unique {
		held, err := s.Store.LeadsHoldField(ctx, u.OrgID, f.Key)
		if err != nil {
			return FieldDef{}, fmt.Errorf("check custom field %s: %w", f.Key, err)
		}
		if held {
			return FieldDef{}, ErrFieldInUse
		}
	}
	f.CreatedAt = s.now()
	f.UpdatedAt = f.CreatedAt
	err := s.change(ctx, u.OrgID, func(d *FieldDefs) error {
		if _, ok := d.Get(f.Key); ok {
			return ErrFieldExists
		}
		if len(d.Fields) >= MaxFieldDefs {
			return &FieldError{Field: "key", Message: fmt.Sprintf("an organisation has at most %d custom fields", MaxFieldDefs)}
		}
		if f.Unique && len(slices.DeleteFunc(slices.Clone(d.Fields), func(x FieldDef) bool { return !x.Unique })) >= MaxUniqueFields {
			return &FieldError{Field: "unique", Message: fmt.Sprintf("an organisation has at most %d unique custom fields", MaxUniqueFields)}
		}
		d.Fields = append(d.Fields, f)
		return checkOptionTotal(*d)
	})
	if err != nil {
		return FieldDef{}, err
	}
	s.Audit.Record(ctx, audit.Record{OrgID: u.OrgID, ActorID: u.ID, Action: ActionFieldCreate, TargetType: "custom_field", TargetID: f.Key,
		Details: map[string]string{"type": string(f.Type), "required": strconv.FormatBool(f.Required), "unique": strconv.FormatBool(f.Unique)}})
	return f, nil
}

// Update changes a definition's label, required flag and options.
func (s *FieldService) Update(ctx context.Context, u account.User, key string, p FieldPatch) (FieldDef, error) {
	if !u.Role.Privileged() {
		return FieldDef{}, deniedField(ActionFieldUpdate, key)
	}
	var out FieldDef
	var changed []string
	err := s.change(ctx, u.OrgID, func(d *FieldDefs) error {
		i := slices.IndexFunc(d.Fields, func(f FieldDef) bool { return f.Key == key })
		if i < 0 {
			return ErrFieldNotFound
		}
		f := d.Fields[i]
		f.Options = slices.Clone(f.Options)
		changed = nil
		if p.Label != nil {
			f.Label = strings.TrimSpace(*p.Label)
			changed = append(changed, "label")
		}
		if p.Required != nil {
			f.Required = *p.Required
			changed = append(changed, "required")
		}
		if (len(p.AddOptions) > 0 || len(p.RenameOptions) > 0) && !f.Type.selects() {
			return &FieldError{Field: "add_options", Message: "only select fields have options"}
		}
		for _, o := range p.AddOptions {
			f.Options = append(f.Options, trimOption(o))
		}
		if len(p.AddOptions) > 0 {
			changed = append(changed, "options")
		}
		for v, label := range p.RenameOptions {
			j := slices.IndexFunc(f.Options, func(o FieldOption) bool { return o.Value == v })
			if j < 0 {
				return &FieldError{Field: "rename_options." + v, Message: "is not an option of this field"}
			}
			f.Options[j].Label = strings.TrimSpace(label)
		}
		if len(p.RenameOptions) > 0 {
			changed = append(changed, "option_labels")
		}
		if err := ValidateFieldDef(f); err != nil {
			return err
		}
		f.UpdatedAt = s.now()
		d.Fields[i] = f
		out = f
		return checkOptionTotal(*d)
	})
	if err != nil {
		return FieldDef{}, err
	}
	s.Audit.Record(ctx, audit.Record{OrgID: u.OrgID, ActorID: u.ID, Action: ActionFieldUpdate, TargetType: "custom_field", TargetID: key,
		Details: map[string]string{"fields": strings.Join(changed, ",")}})
	return out, nil
}

// Delete removes a definition. Leads keep their values for the key, as
// untyped text; the field's unique guards are removed.
func (s *FieldService) Delete(ctx context.Context, u account.User, key string) error {
	if !u.Role.Privileged() {
		return deniedField(ActionFieldDelete, key)
	}
	var was FieldDef
	err := s.change(ctx, u.OrgID, func(d *FieldDefs) error {
		i := slices.IndexFunc(d.Fields, func(f FieldDef) bool { return f.Key == key })
		if i < 0 {
			return ErrFieldNotFound
		}
		was = d.Fields[i]
		d.Fields = slices.Delete(d.Fields, i, i+1)
		return nil
	})
	if err != nil {
		return err
	}
	details := map[string]string{"type": string(was.Type)}
	if was.Unique {
		n, err := s.Store.DropFieldGuards(ctx, u.OrgID, key)
		if err != nil {
			return fmt.Errorf("drop guards of custom field %s: %w", key, err)
		}
		details["guards_removed"] = strconv.Itoa(n)
	}
	s.Audit.Record(ctx, audit.Record{OrgID: u.OrgID, ActorID: u.ID, Action: ActionFieldDelete, TargetType: "custom_field", TargetID: key, Details: details})
	return nil
}

func trimOption(o FieldOption) FieldOption {
	o.Value, o.Label = strings.TrimSpace(o.Value), strings.TrimSpace(o.Label)
	if o.Label == "" {
		o.Label = o.Value
	}
	return o
}

func checkOptionTotal(d FieldDefs) error {
	n := 0
	for _, f := range d.Fields {
		n += len(f.Options)
	}
	if n > MaxFieldOptionsInAll {
		return &FieldError{Field: "options", Message: fmt.Sprintf("an organisation's custom fields have at most %d options in all", MaxFieldOptionsInAll)}
	}
	return nil
}

// ValidateFieldDef checks a definition: its key, label, type, options,
// and unique only on text, number and date.
func ValidateFieldDef(f FieldDef) error {
	if !fieldKeyPattern.MatchString(f.Key) {
		return &FieldError{Field: "key", Message: "must match ^[a-z][a-z0-9_]{0,39}$"}
	}
	if f.Label == "" || utf8.RuneCountInString(f.Label) > MaxFieldLabelLen || !printable(f.Label) {
		return &FieldError{Field: "label", Message: fmt.Sprintf("must be 1 to %d printable characters", MaxFieldLabelLen)}
	}
	if !f.Type.Valid() {
		return &FieldError{Field: "type", Message: "must be one of text, number, date, single_select, multi_select, boolean"}
	}
	if f.Unique && !f.Type.Uniqueable() {
		return &FieldError{Field: "unique", Message: "only text, number and date fields can be unique"}
	}
	if !f.Type.selects() {
		if len(f.Options) > 0 {
			return &FieldError{Field: "options", Message: "only select fields have options"}
		}
		return nil
	}
	if len(f.Options) == 0 || len(f.Options) > MaxFieldOptions {
		return &FieldError{Field: "options", Message: fmt.Sprintf("a select field needs 1 to %d options", MaxFieldOptions)}
	}
	seen := map[string]bool{}
	for _, o := range f.Options {
		if o.Value == "" || o.Value != strings.TrimSpace(o.Value) || utf8.RuneCountInString(o.Value) > MaxFieldOptionLen ||
			strings.Contains(o.Value, ",") || !printable(o.Value) {
			return &FieldError{Field: "options", Message: fmt.Sprintf("each option value is 1 to %d printable characters without a comma", MaxFieldOptionLen)}
		}
		if utf8.RuneCountInString(o.Label) > MaxFieldLabelLen || !printable(o.Label) {
			return &FieldError{Field: "options", Message: fmt.Sprintf("each option label is at most %d printable characters", MaxFieldLabelLen)}
		}
		if seen[strings.ToLower(o.Value)] {
			return &FieldError{Field: "options", Message: "option values must differ (ignoring case)"}
		}
		seen[strings.ToLower(o.Value)] = true
	}
	return nil
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// CanonicalValue checks raw against the field's type and returns the
// value in its canonical form, or a message saying what is wrong.
func (f FieldDef) CanonicalValue(raw string) (string, string) {
	v := strings.TrimSpace(raw)
	switch f.Type {
	case FieldNumber:
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsInf(n, 0) || math.IsNaN(n) {
			return "", "must be a number"
		}
		if n == 0 {
			n = 0 // not -0
		}
		return strconv.FormatFloat(n, 'f', -1, 64), ""
	case FieldDate:
		d, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return "", "must be a date, YYYY-MM-DD"
		}
		return d.Format(time.DateOnly), ""
	case FieldBoolean:
		switch strings.ToLower(v) {
		case "true", "yes":
			return "true", ""
		case "false", "no":
			return "false", ""
		}
		return "", "must be true or false"
	case FieldSingleSelect:
		if o, ok := f.option(v); ok {
			return o, ""
		}
		return "", "must be one of the field's options"
	case FieldMultiSelect:
		picked := map[string]bool{}
		for _, part := range strings.Split(v, ",") {
			o, ok := f.option(strings.TrimSpace(part))
			if !ok {
				return "", "must be option values of the field, comma-separated"
			}
			picked[o] = true
		}
		var out []string
		for _, o := range f.Options {
			if picked[o.Value] {
				out = append(out, o.Value)
			}
		}
		return strings.Join(out, ","), ""
	}
	return v, ""
}

// option finds the option whose value is v, ignoring case.
func (f FieldDef) option(v string) (string, bool) {
	for _, o := range f.Options {
		if strings.EqualFold(o.Value, v) {
			return o.Value, true
		}
	}
	return "", false
}

// CheckCustomFields brings next's custom fields defined in defs to their
// canonical form and checks them: a value of the wrong type or not an
// option, and a required field without a value, are FieldErrors (all of
// them at once, as FieldErrors). Keys without a definition are kept as
// untyped text. With old (an update) only the values that change are
// checked, and a required field is missing only when the change removes
// it, so a lead that came in incomplete can still be worked on. It also
// sets next.UniqueFields to the unique fields next has a value for.
func CheckCustomFields(defs FieldDefs, old *Lead, next *Lead) error {
	var errs FieldErrors
	cf := next.CustomFields
	for k, v := range cf {
		def, ok := defs.Get(k)
		if !ok {
			continue
		}
		if old != nil && old.CustomFields[k] == v {
			continue
		}
		if strings.TrimSpace(v) == "" {
			delete(cf, k)
			continue
		}
		c, msg := def.CanonicalValue(v)
		if msg != "" {
			errs = append(errs, &FieldError{Field: "custom_fields." + k, Message: msg})
			continue
		}
		cf[k] = c
	}
	for _, def := range defs.Fields {
		if !def.Required || cf[def.Key] != "" {
			continue
		}
		if old != nil && old.CustomFields[def.Key] == "" {
			continue
		}
		errs = append(errs, &FieldError{Field: "custom_fields." + def.Key, Message: "is required"})
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b *FieldError) int { return strings.Compare(a.Field, b.Field) })
		return errs
	}
	// A value is guarded when it is written through the API, or already
	// was: a value that came in unguarded (Lead Ads) and does not change
	// stays so, and a duplicate there never blocks other changes.
	next.UniqueFields = nil
	for _, def := range defs.Fields {
		v := cf[def.Key]
		if !def.Unique || v == "" {
			continue
		}
		if old == nil || old.CustomFields[def.Key] != v || slices.Contains(old.UniqueFields, def.Key) {
			next.UniqueFields = append(next.UniqueFields, def.Key)
		}
	}
	return nil
}

// CanonicalizeCustomFields brings the values of l's defined custom fields
// that fit their type to its canonical form and leaves the others as they
// are, checking nothing else (no required fields, no unique guards): what
// the system receives (Lead Ads answers) is stored, never refused;
// CustomFieldIssues reports what does not fit.
func CanonicalizeCustomFields(defs FieldDefs, l *Lead) {
	for k, v := range l.CustomFields {
		def, ok := defs.Get(k)
		if !ok {
			continue
		}
		if c, msg := def.CanonicalValue(v); msg == "" && c != "" {
			l.CustomFields[k] = c
		}
	}
}

// CustomFieldIssues lists what is wrong with a lead's custom fields under
// the current definitions (a value of the wrong type, a required field
// without one), without changing it: leads that came in through Lead Ads
// are stored as received, and definitions may change after a lead was
// written. Nil when nothing is wrong.
func CustomFieldIssues(defs FieldDefs, l Lead) []*FieldError {
	var out []*FieldError
	for _, def := range defs.Fields {
		v, ok := l.CustomFields[def.Key]
		switch {
		case !ok || strings.TrimSpace(v) == "":
			if def.Required {
				out = append(out, &FieldError{Field: "custom_fields." + def.Key, Message: "is required"})
			}
		default:
			if _, msg := def.CanonicalValue(v); msg != "" {
				out = append(out, &FieldError{Field: "custom_fields." + def.Key, Message: msg})
			}
		}
	}
	return out
}
