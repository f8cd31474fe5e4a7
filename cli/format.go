package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"
	"text/template/parse"

	"github.com/patchbay/patchbay/cnm"
)

// Format keys shared by every --format flag, as in Docker.
const (
	tableKey = "table"
	jsonKey  = "json"
)

// templateFuncs are the functions --format and inspect -f templates may
// call; the names and arguments follow Docker's.
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"json":     toJSON,
		"join":     strings.Join,
		"split":    strings.Split,
		"upper":    strings.ToUpper,
		"lower":    strings.ToLower,
		"truncate": truncate,
		"println":  fmt.Sprintln,
	}
}

// toJSON renders v as one line of JSON without HTML escaping.
func toJSON(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// truncate keeps the first n characters of s.
func truncate(s string, n int) string {
	r := []rune(s)
	if n < 0 || len(r) <= n {
		return s
	}
	return string(r[:n])
}

// parseTemplate parses a --format template with templateFuncs.
func parseTemplate(text string) (*template.Template, error) {
	t, err := template.New("").Funcs(templateFuncs()).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("template parsing error: %w", err)
	}
	return t, nil
}

// writeList renders the rows of a list verb. format "" or "table" means
// def; "json" prints each row as a line of JSON; a format starting with
// "table" prints a header row and aligns the columns as Docker does; any
// other format is a template run once per row. Literal `\t` and `\n` in
// the format are a tab and a newline, so shells need no quoting tricks.
// headers overrides the header of a field (e.g. ID → "NETWORK ID").
func writeList[T any](w io.Writer, format, def string, headers map[string]string, rows []T) error {
	if format == "" || format == tableKey {
		format = def
	}
	if format == jsonKey {
		for _, r := range rows {
			s, err := toJSON(r)
			if err != nil {
				return err
			}
			fmt.Fprintln(w, s)
		}
		return nil
	}
	table := strings.HasPrefix(format, tableKey)
	if table {
		format = format[len(tableKey):]
	}
	format = strings.Trim(format, " ")
	format = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(format)
	tmpl, err := parseTemplate(format)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, r := range rows {
		if err := tmpl.Execute(&buf, r); err != nil {
			return fmt.Errorf("template: %w", err)
		}
		buf.WriteByte('\n')
	}
	if !table {
		_, err := w.Write(buf.Bytes())
		return err
	}
	// Docker's table writer: minimum width 10, padding 3.
	tw := tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
	fmt.Fprintln(tw, tableHeader(tmpl, headers))
	_, _ = tw.Write(buf.Bytes())
	return tw.Flush()
}

// tableHeader derives a table's header row from its template: the text
// between actions is kept (the tabs), and each action becomes the name
// of the first field it uses, upper-cased unless headers names it.
// `{{.Label "com.example.role"}}` becomes "ROLE", as in Docker.
func tableHeader(tmpl *template.Template, headers map[string]string) string {
	if tmpl.Tree == nil || tmpl.Tree.Root == nil {
		return ""
	}
	var b strings.Builder
	for _, n := range tmpl.Tree.Root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			b.Write(n.Text)
		case *parse.ActionNode:
			b.WriteString(pipeHeader(n.Pipe, headers))
		case *parse.IfNode:
			b.WriteString(pipeHeader(n.Pipe, headers))
		case *parse.RangeNode:
			b.WriteString(pipeHeader(n.Pipe, headers))
		case *parse.WithNode:
			b.WriteString(pipeHeader(n.Pipe, headers))
		}
	}
	return b.String()
}

// pipeHeader is the header of one action: its first field.
func pipeHeader(p *parse.PipeNode, headers map[string]string) string {
	if p == nil {
		return ""
	}
	for _, c := range p.Cmds {
		for i, a := range c.Args {
			switch a := a.(type) {
			case *parse.FieldNode:
				name := strings.Join(a.Ident, ".")
				if h, ok := headers[name]; ok {
					return h
				}
				last := a.Ident[len(a.Ident)-1]
				if last == "Label" && i+1 < len(c.Args) {
					if s, ok := c.Args[i+1].(*parse.StringNode); ok {
						return labelHeader(s.Text)
					}
				}
				return strings.ToUpper(last)
			case *parse.PipeNode:
				if h := pipeHeader(a, headers); h != "" {
					return h
				}
			}
		}
	}
	return ""
}

// labelHeader is the header of a label column: the last dotted part of
// the key, with - and _ as spaces.
func labelHeader(key string) string {
	parts := strings.Split(key, ".")
	h := strings.NewReplacer("-", " ", "_", " ").Replace(parts[len(parts)-1])
	return strings.ToUpper(h)
}

// writeInspect prints inspect results: a JSON array indented by four
// spaces, a compact one for "json", or a template per item.
func writeInspect[T any](w io.Writer, format string, items []T) error {
	if items == nil {
		items = []T{}
	}
	switch format {
	case "", jsonKey:
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		if format == "" {
			enc.SetIndent("", "    ")
		}
		return enc.Encode(items)
	}
	tmpl, err := parseTemplate(format)
	if err != nil {
		return err
	}
	for _, it := range items {
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, it); err != nil {
			return fmt.Errorf("template: %w", err)
		}
		buf.WriteByte('\n')
		if _, err := w.Write(buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// inspectAll fetches every ref and prints what it found; refs that do not
// exist are reported afterwards as "No such <kind>: <ref>".
func inspectAll[T any](w io.Writer, format, kind string, refs []string, get func(string) (T, error)) error {
	found := []T{}
	var missing []string
	for _, ref := range refs {
		v, err := get(ref)
		switch {
		case errors.Is(err, cnm.ErrNotFound):
			missing = append(missing, fmt.Sprintf("No such %s: %s", kind, ref))
		case err != nil:
			return err
		default:
			found = append(found, v)
		}
	}
	if err := writeInspect(w, format, found); err != nil {
		return err
	}
	if len(missing) > 0 {
		return errors.New(strings.Join(missing, "\n"))
	}
	return nil
}
