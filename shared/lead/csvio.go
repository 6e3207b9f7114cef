package lead

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
)

// The columns of a lead CSV file (import and export). Custom fields are
// cf.<key> columns; tags are separated by semicolons.
const (
	ColName   = "name"
	ColPhone  = "phone"
	ColEmail  = "email"
	ColStatus = "status"
	ColTags   = "tags"
	ColSource = "source"
	// ColCustomPrefix starts a custom field's column: cf.<key>.
	ColCustomPrefix = "cf."
	// ColConsentEvidence proves the opt-in columns of a row (a signed form's
	// reference, say); an opt-in without it is refused.
	ColConsentEvidence = "consent_evidence"
	// MaxEvidenceLen bounds consent_evidence.
	MaxEvidenceLen = 500
)

// ImportOptInColumns are the consent columns an import reads, each naming
// the "channel:purpose" it opts in (true, yes or 1; false, no, 0 or empty
// record nothing).
var ImportOptInColumns = map[string]string{
	"whatsapp_marketing_opt_in": "whatsapp:marketing",
	"whatsapp_service_opt_in":   "whatsapp:service",
	"email_marketing_opt_in":    "email:marketing",
	"email_service_opt_in":      "email:service",
}

// exportOnlyColumns are written by an export and ignored by an import, so
// an exported file imports as it is.
var exportOnlyColumns = []string{"id", "assignee_id", "pipeline_id", "stage_id", "created_at", "updated_at"}

// ImportRow is one data row of an import: the lead it describes and the
// opt-ins it records ("channel:purpose") with their evidence.
type ImportRow struct {
	// Row is the line of the file the record starts on, the header being
	// line 1.
	Row      int
	Lead     Lead
	OptIns   []string
	Evidence string
}

// RowError is what is wrong with one row (or, with Row 1, the header).
type RowError struct {
	Row     int
	Field   string
	Message string
}

// Error implements error.
func (e *RowError) Error() string { return fmt.Sprintf("row %d: %s: %s", e.Row, e.Field, e.Message) }

// ParseImport reads a lead CSV file: a header row naming its columns, then
// at most maxRows data rows. A header that cannot be used (no name column,
// neither phone nor email, an unknown or repeated column), a file that is
// not CSV or has too many rows is an error (*RowError); a row whose cells
// cannot be read as a lead is a RowError in the list and is left out of the
// rows. Cells are trimmed; a cell an export protected against formula
// injection ('=..., '+..., '-..., '@...) loses its quote. The rows' fields
// are checked further by Service.Create (Normalize, custom field
// definitions).
func ParseImport(data string, maxRows int) ([]ImportRow, []RowError, error) {
	return ParseImportMapped(data, nil, maxRows)
}

// ParseImportMapped is ParseImport with the file's own column names mapped
// to the lead's (mapping: column as the header writes it -> name, phone,
// email, status, tags, source, cf.<key>, consent_evidence or a consent
// column). With a mapping, the columns it does not name are left out; a
// mapping that names a column the header lacks, or a field that does not
// exist, is an error on the header naming that column. A nil mapping reads
// the header's names as the fields.
func ParseImportMapped(data string, mapping map[string]string, maxRows int) ([]ImportRow, []RowError, error) {
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(data, "\ufeff")))
	r.FieldsPerRecord = -1
	r.ReuseRecord = false
	header, err := r.Read()
	if err != nil {
		return nil, nil, &RowError{Row: 1, Field: "header", Message: csvMessage(err)}
	}
	cols := make([]string, len(header))
	seen := map[string]bool{}
	if mapping != nil {
		trimmed := make(map[string]string, len(mapping))
		for k, v := range mapping {
			trimmed[strings.TrimSpace(k)] = v
		}
		mapping = trimmed
	}
	mapped := map[string]bool{}
	for i, h := range header {
		name := strings.TrimSpace(h)
		if mapping != nil {
			field, ok := mapping[name]
			if !ok || strings.TrimSpace(field) == "" {
				continue // not imported
			}
			mapped[name] = true
			name, h = strings.TrimSpace(field), strings.TrimSpace(field)
		}
		h = strings.ToLower(strings.TrimSpace(h))
		if k, ok := strings.CutPrefix(h, ColCustomPrefix); ok {
			if k == "" || len(k) > MaxCustomKeyLen {
				return nil, nil, &RowError{Row: 1, Field: truncate(strings.TrimSpace(header[i]), 64), Message: fmt.Sprintf("a custom field key is 1 to %d characters", MaxCustomKeyLen)}
			}
			// The key keeps its case.
			h = ColCustomPrefix + name[len(ColCustomPrefix):]
		} else if !knownColumn(h) {
			if mapping != nil {
				return nil, nil, &RowError{Row: 1, Field: truncate(strings.TrimSpace(header[i]), 64), Message: "mapped to an unknown field: " + truncate(name, 64)}
			}
			return nil, nil, &RowError{Row: 1, Field: truncate(header[i], 64), Message: "unknown column"}
		}
		if seen[h] {
			return nil, nil, &RowError{Row: 1, Field: truncate(h, 64), Message: "repeated column"}
		}
		seen[h] = true
		cols[i] = h
	}
	for _, col := range slices.Sorted(maps.Keys(mapping)) {
		if !mapped[col] && strings.TrimSpace(mapping[col]) != "" {
			return nil, nil, &RowError{Row: 1, Field: truncate(col, 64), Message: "the mapping names a column the header does not have"}
		}
	}
	if !seen[ColName] {
		return nil, nil, &RowError{Row: 1, Field: ColName, Message: "the header needs a name column"}
	}
	if !seen[ColPhone] && !seen[ColEmail] {
		return nil, nil, &RowError{Row: 1, Field: ColPhone, Message: "the header needs a phone or an email column"}
	}
	var rows []ImportRow
	var bad []RowError
	for count := 1; ; count++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		if err != nil && (!errors.As(err, &pe) || !errors.Is(pe.Err, csv.ErrFieldCount)) {
			line := 0
			if pe != nil {
				line = pe.StartLine
			}
			return nil, nil, &RowError{Row: max(line, 2), Field: "csv", Message: csvMessage(err)}
		}
		n, _ := r.FieldPos(0)
		if count > maxRows {
			return nil, nil, &RowError{Row: n, Field: "rows", Message: fmt.Sprintf("at most %d rows per import", maxRows)}
		}
		if blank(rec) {
			continue
		}
		row, rerr := importRow(n, cols, rec)
		if rerr != nil {
			bad = append(bad, *rerr)
			continue
		}
		rows = append(rows, row)
	}
	return rows, bad, nil
}

func knownColumn(h string) bool {
	switch h {
	case ColName, ColPhone, ColEmail, ColStatus, ColTags, ColSource, ColConsentEvidence:
		return true
	}
	_, ok := ImportOptInColumns[h]
	return ok || slices.Contains(exportOnlyColumns, h)
}

func blank(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

func importRow(n int, cols, rec []string) (ImportRow, *RowError) {
	if len(rec) > len(cols) {
		return ImportRow{}, &RowError{Row: n, Field: "csv", Message: fmt.Sprintf("%d cells, the header has %d columns", len(rec), len(cols))}
	}
	row := ImportRow{Row: n}
	l := &row.Lead
	for i, raw := range rec {
		v := unprotect(strings.TrimSpace(raw))
		switch c := cols[i]; c {
		case ColName:
			l.Name = v
		case ColPhone:
			l.Phone = v
		case ColEmail:
			l.Email = v
		case ColStatus:
			l.Status = Status(strings.ToLower(v))
		case ColSource:
			l.Source = v
		case ColTags:
			for t := range strings.SplitSeq(v, ";") {
				if t = strings.TrimSpace(t); t != "" {
					l.Tags = append(l.Tags, t)
				}
			}
		case ColConsentEvidence:
			if len(v) > MaxEvidenceLen {
				return ImportRow{}, &RowError{Row: n, Field: c, Message: fmt.Sprintf("at most %d characters", MaxEvidenceLen)}
			}
			row.Evidence = v
		default:
			if k, ok := strings.CutPrefix(c, ColCustomPrefix); ok {
				if v != "" {
					if l.CustomFields == nil {
						l.CustomFields = map[string]string{}
					}
					l.CustomFields[k] = v
				}
				continue
			}
			if key, ok := ImportOptInColumns[c]; ok {
				switch strings.ToLower(v) {
				case "true", "yes", "1":
					row.OptIns = append(row.OptIns, key)
				case "false", "no", "0", "":
				default:
					return ImportRow{}, &RowError{Row: n, Field: c, Message: "must be true or false"}
				}
			}
		}
	}
	if len(row.OptIns) > 0 && row.Evidence == "" {
		return ImportRow{}, &RowError{Row: n, Field: ColConsentEvidence, Message: "an opt-in needs its evidence (what the person agreed to, where and when)"}
	}
	slices.Sort(row.OptIns)
	return row, nil
}

func csvMessage(err error) string {
	if errors.Is(err, io.EOF) {
		return "the file is empty"
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return "not valid CSV: " + pe.Err.Error()
	}
	return "not valid CSV"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// unprotect removes the quote an export puts before a cell that a
// spreadsheet would read as a formula.
func unprotect(v string) string {
	if len(v) > 1 && v[0] == '\'' && strings.ContainsRune(formulaStarts, rune(v[1])) {
		return v[1:]
	}
	return v
}

// formulaStarts are the first characters that make a spreadsheet read a
// cell as a formula.
const formulaStarts = "=+-@\t\r"

// SafeCell protects a cell against formula (CSV) injection: one starting
// with = + - @, a tab or a carriage return gets a leading single quote.
func SafeCell(v string) string {
	if v != "" && strings.ContainsRune(formulaStarts, rune(v[0])) {
		return "'" + v
	}
	return v
}

// ExportHeader is the header of an export: id, the import's columns, the
// custom fields cfKeys as cf.<key>, then the lead's assignment, place and
// times.
func ExportHeader(cfKeys []string) []string {
	h := []string{"id", ColName, ColPhone, ColEmail, ColStatus, ColTags, ColSource}
	for _, k := range cfKeys {
		h = append(h, ColCustomPrefix+k)
	}
	return append(h, "assignee_id", "pipeline_id", "stage_id", "created_at", "updated_at")
}

// ExportRecord is l as a row under ExportHeader(cfKeys), every cell
// passed through SafeCell.
func ExportRecord(l Lead, cfKeys []string) []string {
	rec := []string{l.ID, l.Name, l.Phone, l.Email, string(l.Status), strings.Join(l.Tags, ";"), l.Source}
	for _, k := range cfKeys {
		rec = append(rec, l.CustomFields[k])
	}
	rec = append(rec, l.AssigneeID, l.PipelineID, l.StageID, l.CreatedAt.UTC().Format(time.RFC3339), l.UpdatedAt.UTC().Format(time.RFC3339))
	for i := range rec {
		rec[i] = SafeCell(rec[i])
	}
	return rec
}

// CheckCreate checks in as Create would, without writing: the actor's
// role, the fields (Normalize) and the org's custom field definitions. It
// does not look for duplicates of existing leads. An import's dry run
// uses it.
func (s *Service) CheckCreate(ctx context.Context, a Actor, in Lead) error {
	if !a.User.Role.CanWriteLeads() {
		return &DeniedError{Action: audit.ActionLeadCreate, Reason: readOnlyRole}
	}
	if a.User.Role == account.RoleAgent && in.AssigneeID != "" && in.AssigneeID != a.User.ID {
		return &DeniedError{Action: audit.ActionLeadCreate, Reason: "an agent can only create leads assigned to itself"}
	}
	l := in
	l.OrgID = a.User.OrgID
	if err := Normalize(&l, s.region(a), s.Phones); err != nil {
		return err
	}
	return s.checkFields(ctx, nil, &l)
}

// Contact is in's phone and email as a lead stores them (E.164, lower
// case), or empty where they do not read as one; an import finds the rows
// of one file that name the same person with it.
func (s *Service) Contact(a Actor, in Lead) (phone, email string) {
	if p, err := s.Phones(in.Phone, s.region(a)); err == nil {
		phone = p
	}
	if e, err := NormalizeEmail(in.Email); err == nil {
		email = e
	}
	return phone, email
}
