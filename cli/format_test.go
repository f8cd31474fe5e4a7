package cli

import (
	"bytes"
	"testing"
)

func TestTableHeader(t *testing.T) {
	tests := []struct {
		tmpl    string
		headers map[string]string
		want    string
	}{
		{"{{.ID}}\t{{.Name}}", nil, "ID\tNAME"},
		{"{{.ID}}\t{{.Name}}", networkHeaders, "NETWORK ID\tNAME"},
		{"{{.ID}}\t{{.RunningFor}}\t{{.CreatedAt}}", psHeaders, "SANDBOX ID\tCREATED\tCREATED AT"},
		{"{{json .Labels}} | {{upper .Driver}}", nil, "LABELS | DRIVER"},
		{`{{.Label "com.example.app-role"}}`, nil, "APP ROLE"},
		{"{{.IPAM.Driver}}:{{if .Internal}}x{{end}}", nil, "DRIVER:INTERNAL"},
		{"{{range .Containers}}{{.Name}}{{end}}", nil, "CONTAINERS"},
		{"{{.}} and {{\"lit\"}}", nil, " and "},
	}
	for _, tt := range tests {
		tmpl, err := parseTemplate(tt.tmpl)
		if err != nil {
			t.Fatal(err)
		}
		if got := tableHeader(tmpl, tt.headers); got != tt.want {
			t.Errorf("tableHeader(%q) = %q, want %q", tt.tmpl, got, tt.want)
		}
	}
}

type fmtRow struct {
	ID   string
	Name string
	Tags []string
}

func TestWriteList(t *testing.T) {
	rows := []fmtRow{{"a1", "alpha", []string{"x", "y"}}, {"b2", "a-much-longer-name", nil}}
	const def = "table {{.ID}}\t{{.Name}}"
	tests := []struct {
		format string
		want   string
	}{
		{"", "ID        NAME\na1        alpha\nb2        a-much-longer-name\n"},
		{"table", "ID        NAME\na1        alpha\nb2        a-much-longer-name\n"},
		{`table {{.Name}}\t{{.ID}}`, "NAME                 ID\nalpha                a1\na-much-longer-name   b2\n"},
		{"{{.ID}}={{join .Tags \",\"}}", "a1=x,y\nb2=\n"},
		{`{{.ID}}\t{{truncate .Name 3}} {{lower "AB"}}`, "a1\talp ab\nb2\ta-m ab\n"},
		{"json", `{"ID":"a1","Name":"alpha","Tags":["x","y"]}` + "\n" + `{"ID":"b2","Name":"a-much-longer-name","Tags":null}` + "\n"},
		{"{{json .Tags}}", "[\"x\",\"y\"]\nnull\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		if err := writeList(&b, tt.format, def, nil, rows); err != nil {
			t.Fatalf("%q: %v", tt.format, err)
		}
		if b.String() != tt.want {
			t.Errorf("format %q:\n got %q\nwant %q", tt.format, b.String(), tt.want)
		}
	}
	var b bytes.Buffer
	if err := writeList(&b, def, def, nil, []fmtRow{}); err != nil || b.String() != "ID        NAME\n" {
		t.Errorf("empty table: %q, %v", b.String(), err)
	}
	if err := writeList(&b, "{{.Nope", def, nil, rows); err == nil {
		t.Error("bad template accepted")
	}
	if err := writeList(&b, "{{.Nope}}", def, nil, rows); err == nil {
		t.Error("missing field accepted")
	}
}

func TestWriteInspect(t *testing.T) {
	rows := []fmtRow{{"a1", "<alpha>", nil}}
	tests := []struct {
		format string
		want   string
	}{
		{"", "[\n    {\n        \"ID\": \"a1\",\n        \"Name\": \"<alpha>\",\n        \"Tags\": null\n    }\n]\n"},
		{"json", `[{"ID":"a1","Name":"<alpha>","Tags":null}]` + "\n"},
		{"{{.Name}}", "<alpha>\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		if err := writeInspect(&b, tt.format, rows); err != nil {
			t.Fatal(err)
		}
		if b.String() != tt.want {
			t.Errorf("format %q:\n got %q\nwant %q", tt.format, b.String(), tt.want)
		}
	}
	var b bytes.Buffer
	if err := writeInspect[fmtRow](&b, "", nil); err != nil || b.String() != "[]\n" {
		t.Errorf("empty: %q %v", b.String(), err)
	}
}
