package deploy_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

func TestSettingsNormalizeAccepts(t *testing.T) {
	hostile := []string{
		`"); import os; os.system("id") #`,
		`'''`,
		`"""`,
		`C:\path\to\x`,
		`\`,
		"line one\nline two\r\n",
		"{{ lookup('pipe', 'id') }}",
		"{% for x in y %}{{ x }}{% endfor %}",
		"!unsafe {{ x }}",
		"$(id) `id` ${HOME}",
		"Ōtautahi — 🌏",
		"",
	}
	tests := []struct {
		name string
		in   deploy.Settings
		want deploy.Settings
	}{
		{"nil", nil, deploy.Settings{}},
		{
			"known keys of every kind",
			deploy.Settings{
				"base.public_url":      "https://eden.example.org",
				"mail.sender":          "noreply@example.org",
				"base.debug":           true,
				"mail.limit":           int64(100),
				"gis.countries":        []string{"NZ", "AU"},
				"base.system_name":     "Eden NZ",
				"L10n.display_toolbar": false,
			},
			deploy.Settings{
				"base.public_url":      "https://eden.example.org",
				"mail.sender":          "noreply@example.org",
				"base.debug":           true,
				"mail.limit":           int64(100),
				"gis.countries":        []string{"NZ", "AU"},
				"base.system_name":     "Eden NZ",
				"L10n.display_toolbar": false,
			},
		},
		{
			"as decoded from JSON",
			deploy.Settings{
				"mail.limit":       float64(100),
				"gis.countries":    []any{"NZ"},
				"custom.count":     float64(-3),
				"custom.ratio":     0.25,
				"custom.big":       float64(1 << 60),
				"custom.names":     []any{},
				"base.prepopulate": []any{"default", "default/users"},
			},
			deploy.Settings{
				"mail.limit":       int64(100),
				"gis.countries":    []string{"NZ"},
				"custom.count":     int64(-3),
				"custom.ratio":     0.25,
				"custom.big":       float64(1 << 60), // beyond 2^53 it stays a float
				"custom.names":     []string{},
				"base.prepopulate": []string{"default", "default/users"},
			},
		},
		{
			"as decoded from YAML",
			deploy.Settings{"mail.limit": 7, "custom.flag": true},
			deploy.Settings{"mail.limit": int64(7), "custom.flag": true},
		},
		{
			"unknown well-formed keys take any supported type",
			deploy.Settings{
				"ui.menu_logo":        "logo.png",
				"org.branches":        true,
				"hrm.staff_label":     int64(3),
				"pr.search_shows_hr":  1.5,
				"project.mode_3w":     []string{"a"},
				"deep.er.key_name_9":  "x",
				"L10n.languages_list": []any{"en", "mi"},
			},
			deploy.Settings{
				"ui.menu_logo":        "logo.png",
				"org.branches":        true,
				"hrm.staff_label":     int64(3),
				"pr.search_shows_hr":  1.5,
				"project.mode_3w":     []string{"a"},
				"deep.er.key_name_9":  "x",
				"L10n.languages_list": []string{"en", "mi"},
			},
		},
		{
			"limits reached, not passed",
			deploy.Settings{
				"custom.text":                   strings.Repeat("x", deploy.MaxSettingValueBytes),
				"custom.list":                   make([]string, deploy.MaxSettingListItems),
				"a." + strings.Repeat("k", 126): "x",
			},
			deploy.Settings{
				"custom.text":                   strings.Repeat("x", deploy.MaxSettingValueBytes),
				"custom.list":                   make([]string, deploy.MaxSettingListItems),
				"a." + strings.Repeat("k", 126): "x",
			},
		},
	}
	for i, s := range hostile {
		key := fmt.Sprintf("custom.hostile_%d", i)
		tests = append(tests, struct {
			name string
			in   deploy.Settings
			want deploy.Settings
		}{
			"hostile string kept verbatim: " + s,
			deploy.Settings{key: s, "base.system_name": s, "custom.list": []any{s}},
			deploy.Settings{key: s, "base.system_name": s, "custom.list": []string{s}},
		})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.Normalize()
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Normalize (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSettingsNormalizeRefuses(t *testing.T) {
	many := deploy.Settings{}
	for i := range deploy.MaxSettings + 1 {
		many[fmt.Sprintf("custom.k%d", i)] = "v"
	}
	tests := []struct {
		name    string
		in      deploy.Settings
		want    []problem
		reasons []string
	}{
		{"url not a URL", deploy.Settings{"base.public_url": "eden.example.org"}, invalid("settings.base.public_url"), nil},
		{"python keyword in a key", deploy.Settings{"base.class": "x"}, invalid("settings.base.class"), []string{"Python keyword"}},
		{"python keyword first", deploy.Settings{"import.os": "x"}, invalid("settings.import.os"), []string{"Python keyword"}},
		{"url with path", deploy.Settings{"base.public_url": "http://eden.example.org/x"}, invalid("settings.base.public_url"), nil},
		{"url not a string", deploy.Settings{"base.public_url": true}, invalid("settings.base.public_url"), []string{"type url"}},
		{"email not an address", deploy.Settings{"mail.sender": "Eden <x@example.org>"}, invalid("settings.mail.sender"), nil},
		{"email not a string", deploy.Settings{"mail.approver": int64(1)}, invalid("settings.mail.approver"), []string{"type email"}},
		{"bool as string", deploy.Settings{"base.debug": "true"}, invalid("settings.base.debug"), []string{"type bool"}},
		{"bool as number", deploy.Settings{"base.debug": float64(1)}, invalid("settings.base.debug"), []string{"type bool"}},
		{"int as string", deploy.Settings{"mail.limit": "100"}, invalid("settings.mail.limit"), []string{"type int"}},
		{"int as fraction", deploy.Settings{"mail.limit": 1.5}, invalid("settings.mail.limit"), []string{"type int"}},
		{"list as string", deploy.Settings{"gis.countries": "NZ"}, invalid("settings.gis.countries"), []string{"type list"}},
		{"list with a number", deploy.Settings{"gis.countries": []any{"NZ", float64(1)}}, invalid("settings.gis.countries[1]"), []string{"strings"}},
		{"list with a map", deploy.Settings{"custom.list": []any{map[string]any{"a": "b"}}}, invalid("settings.custom.list[0]"), nil},
		{"string as list", deploy.Settings{"base.system_name": []string{"a"}}, invalid("settings.base.system_name"), []string{"type string"}},
		{"NaN", deploy.Settings{"custom.x": math.NaN()}, invalid("settings.custom.x"), []string{"finite"}},
		{"+Inf", deploy.Settings{"custom.x": math.Inf(1)}, invalid("settings.custom.x"), []string{"finite"}},
		{"-Inf", deploy.Settings{"custom.x": math.Inf(-1)}, invalid("settings.custom.x"), []string{"finite"}},
		{"nil", deploy.Settings{"custom.x": nil}, invalid("settings.custom.x"), []string{"remove the key"}},
		{"nested map", deploy.Settings{"custom.x": map[string]any{"y": "z"}}, invalid("settings.custom.x"), []string{"map[string]interface {}"}},
		{"int32", deploy.Settings{"custom.x": int32(1)}, invalid("settings.custom.x"), nil},
		{"float32", deploy.Settings{"custom.x": float32(1)}, invalid("settings.custom.x"), nil},
		{"[]int", deploy.Settings{"custom.x": []int{1}}, invalid("settings.custom.x"), nil},
		{"key without a dot", deploy.Settings{"debug": true}, invalid("settings.debug"), []string{"dotted"}},
		{"key ending in a dot", deploy.Settings{"base.": true}, invalid("settings.base."), nil},
		{"key starting with a digit", deploy.Settings{"1base.x": true}, invalid("settings.1base.x"), nil},
		{"key with a dash", deploy.Settings{"base.x-y": true}, invalid("settings.base.x-y"), nil},
		{"key with a bracket", deploy.Settings{"base.x[0]": true}, invalid("settings.base.x[0]"), nil},
		{"key with a quote", deploy.Settings{`base.x"]=1;#`: true}, invalid(`settings.base.x"]=1;#`), nil},
		{"key too long", deploy.Settings{"a." + strings.Repeat("k", 127): true}, invalid("settings.a." + strings.Repeat("k", 127)), nil},
		{"database.*", deploy.Settings{"database.password": "x"}, invalid("settings.database.password"), []string{"owned by Eden Deploy"}},
		{"database.host", deploy.Settings{"database.host": "evil.example.org"}, invalid("settings.database.host"), []string{"owned"}},
		{"auth.hmac_key", deploy.Settings{"auth.hmac_key": "x"}, invalid("settings.auth.hmac_key"), []string{"owned"}},
		{"base.migrate", deploy.Settings{"base.migrate": false}, invalid("settings.base.migrate"), []string{"owned"}},
		{"base.prepopulate_demo", deploy.Settings{"base.prepopulate_demo": []string{"x"}}, invalid("settings.base.prepopulate_demo"), []string{"owned"}},
		{"too many settings", many, invalid("settings"), []string{"at most 200"}},
		{"value too long", deploy.Settings{"custom.x": strings.Repeat("x", deploy.MaxSettingValueBytes+1)}, invalid("settings.custom.x"), []string{"at most 4096"}},
		{"list too long", deploy.Settings{"custom.x": make([]string, deploy.MaxSettingListItems+1)}, invalid("settings.custom.x"), []string{"at most 100"}},
		{"list item too long", deploy.Settings{"custom.x": []string{"ok", strings.Repeat("x", deploy.MaxSettingValueBytes+1)}}, invalid("settings.custom.x[1]"), nil},
		{"not UTF-8", deploy.Settings{"custom.x": "\xff\xfe"}, invalid("settings.custom.x"), []string{"UTF-8"}},
		{"NUL", deploy.Settings{"custom.x": "a\x00b"}, invalid("settings.custom.x"), []string{"NUL"}},
		{"NUL in list", deploy.Settings{"custom.x": []any{"a\x00b"}}, invalid("settings.custom.x[0]"), []string{"NUL"}},
		{
			"every problem reported",
			deploy.Settings{"debug": true, "database.name": "x", "mail.limit": "x", "custom.ok": "fine"},
			invalid("settings.debug", "settings.database.name", "settings.mail.limit"),
			nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.Normalize()
			if got != nil {
				t.Errorf("Normalize returned %v with error %v", got, err)
			}
			if deploy.KindOf(err) != deploy.KindInvalid {
				t.Errorf("KindOf = %q, want invalid (error %v)", deploy.KindOf(err), err)
			}
			checkProblems(t, err, tt.want, tt.reasons...)
		})
	}
}

func TestSettingsNormalizeCopies(t *testing.T) {
	list := []any{"NZ"}
	in := deploy.Settings{"gis.countries": list, "mail.limit": float64(3)}
	out, err := in.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	out["mail.limit"] = int64(4)
	want := deploy.Settings{"gis.countries": []any{"NZ"}, "mail.limit": float64(3)}
	if diff := cmp.Diff(want, in); diff != "" {
		t.Errorf("input changed (-want +got):\n%s", diff)
	}
}

func TestSettingsKeys(t *testing.T) {
	s := deploy.Settings{"mail.sender": 1, "base.template": 1, "L10n.utc_offset": 1}
	want := []string{"L10n.utc_offset", "base.template", "mail.sender"}
	if diff := cmp.Diff(want, s.Keys()); diff != "" {
		t.Errorf("Keys (-want +got):\n%s", diff)
	}
}
