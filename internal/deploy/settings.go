package deploy

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// Settings are the user-editable values behind an instance's
// models/000_config.py, keyed by their dotted name below `settings.`
// (for example "base.public_url" for settings.base.public_url).
//
// A value is a string, a bool, an int64, a float64 or a []string. Values
// decoded from JSON or YAML are brought to those types by Normalize.
type Settings map[string]any

// SettingKind is the type a known setting must have.
type SettingKind string

// The kinds of setting value.
const (
	KindString SettingKind = "string"
	KindBool   SettingKind = "bool"
	KindInt    SettingKind = "int"
	KindFloat  SettingKind = "float"
	KindList   SettingKind = "list"
	KindURL    SettingKind = "url"
	KindEmail  SettingKind = "email"
)

// KnownSettings are the settings whose type Eden Deploy checks. Other
// well-formed keys are accepted with any supported value type: Eden has
// hundreds of settings and a deployment tool should not stand in the way.
var KnownSettings = map[string]SettingKind{
	"base.public_url":                         KindURL,
	"base.template":                           KindString,
	"base.prepopulate":                        KindList,
	"base.debug":                              KindBool,
	"base.system_name":                        KindString,
	"base.system_name_short":                  KindString,
	"mail.sender":                             KindEmail,
	"mail.approver":                           KindEmail,
	"mail.server":                             KindString,
	"mail.limit":                              KindInt,
	"L10n.default_language":                   KindString,
	"L10n.display_toolbar":                    KindBool,
	"L10n.utc_offset":                         KindString,
	"gis.countries":                           KindList,
	"auth.registration_requires_approval":     KindBool,
	"auth.password_min_length":                KindInt,
	"auth.registration_requires_verification": KindBool,
}

// systemOwned reports whether key is set by Eden Deploy itself and may not
// be edited: the database connection, the HMAC key, migration control.
func systemOwned(key string) bool {
	return strings.HasPrefix(key, "database.") || key == "auth.hmac_key" ||
		key == "base.migrate" || key == "base.prepopulate_demo"
}

var settingKeyPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$`)

// Limits on settings.
const (
	MaxSettings          = 200
	MaxSettingValueBytes = 4096
	MaxSettingListItems  = 100
)

// Normalize validates s and returns a copy whose values have the canonical
// types (JSON numbers become int64 where integral, lists become []string).
// Every problem is reported, joined, each as an Invalid error naming the
// key as "settings.<key>".
func (s Settings) Normalize() (Settings, error) {
	if len(s) > MaxSettings {
		return nil, Invalid("settings", "at most %d settings, got %d", MaxSettings, len(s))
	}
	out := make(Settings, len(s))
	var errs []error
	for _, key := range s.Keys() {
		field := "settings." + key
		if !settingKeyPattern.MatchString(key) || len(key) > 128 {
			errs = append(errs, Invalid(field, "a setting key is dotted identifiers such as base.public_url"))
			continue
		}
		if kw := pythonKeyword(key); kw != "" {
			errs = append(errs, Invalid(field, "%q is a Python keyword: 000_config.py could not use it", kw))
			continue
		}
		if systemOwned(key) {
			errs = append(errs, Invalid(field, "is owned by Eden Deploy and cannot be edited"))
			continue
		}
		v, err := normalizeValue(field, s[key], KnownSettings[key])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[key] = v
	}
	if len(errs) > 0 {
		return nil, joinErrors(errs)
	}
	return out, nil
}

// Keys returns the keys of s, sorted.
func (s Settings) Keys() []string {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func normalizeValue(field string, v any, kind SettingKind) (any, error) {
	var nv any
	switch x := v.(type) {
	case string:
		if err := checkText(field, x, MaxSettingValueBytes); err != nil {
			return nil, err
		}
		nv = x
	case bool:
		nv = x
	case int:
		nv = int64(x)
	case int64:
		nv = x
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, Invalid(field, "must be a finite number")
		}
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			nv = int64(x)
		} else {
			nv = x
		}
	case []string:
		list, err := normalizeList(field, len(x), func(i int) any { return x[i] })
		if err != nil {
			return nil, err
		}
		nv = list
	case []any:
		list, err := normalizeList(field, len(x), func(i int) any { return x[i] })
		if err != nil {
			return nil, err
		}
		nv = list
	case nil:
		return nil, Invalid(field, "must have a value (remove the key to unset it)")
	default:
		return nil, Invalid(field, "must be a string, boolean, number or list of strings, not %T", v)
	}
	return checkKind(field, nv, kind)
}

func normalizeList(field string, n int, at func(int) any) ([]string, error) {
	if n > MaxSettingListItems {
		return nil, Invalid(field, "at most %d items", MaxSettingListItems)
	}
	out := make([]string, n)
	for i := range n {
		s, ok := at(i).(string)
		if !ok {
			return nil, Invalid(fmt.Sprintf("%s[%d]", field, i), "list items must be strings")
		}
		if err := checkText(fmt.Sprintf("%s[%d]", field, i), s, MaxSettingValueBytes); err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

func checkKind(field string, v any, kind SettingKind) (any, error) {
	if kind == "" {
		return v, nil
	}
	bad := func() (any, error) { return nil, Invalid(field, "must be of type %s", kind) }
	switch kind {
	case KindString:
		if _, ok := v.(string); !ok {
			return bad()
		}
	case KindBool:
		if _, ok := v.(bool); !ok {
			return bad()
		}
	case KindInt:
		if _, ok := v.(int64); !ok {
			return bad()
		}
	case KindFloat:
		switch x := v.(type) {
		case int64:
			return float64(x), nil
		case float64:
		default:
			return bad()
		}
	case KindList:
		if _, ok := v.([]string); !ok {
			return bad()
		}
	case KindURL:
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		if err := ValidateInstanceURL(field, s); err != nil {
			return nil, err
		}
	case KindEmail:
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		if err := ValidateEmail(field, s); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// checkText refuses strings that are not UTF-8, hold NUL, or are too long.
// Quotes, backslashes, newlines and template markup are allowed: rendering
// escapes every value for where it lands.
func checkText(field, s string, max int) error {
	switch {
	case len(s) > max:
		return Invalid(field, "at most %d bytes", max)
	case !utf8.ValidString(s):
		return Invalid(field, "must be valid UTF-8")
	case strings.ContainsRune(s, 0):
		return Invalid(field, "must not contain NUL characters")
	}
	return nil
}

// pythonKeywords are Python 3's reserved words: a key segment named like one
// would make settings.<key> a syntax error in 000_config.py.
var pythonKeywords = map[string]bool{
	"False": true, "None": true, "True": true, "and": true, "as": true, "assert": true, "async": true,
	"await": true, "break": true, "class": true, "continue": true, "def": true, "del": true, "elif": true,
	"else": true, "except": true, "finally": true, "for": true, "from": true, "global": true, "if": true,
	"import": true, "in": true, "is": true, "lambda": true, "nonlocal": true, "not": true, "or": true,
	"pass": true, "raise": true, "return": true, "try": true, "while": true, "with": true, "yield": true,
}

// pythonKeyword returns the first segment of key that is a Python keyword.
func pythonKeyword(key string) string {
	for _, seg := range strings.Split(key, ".") {
		if pythonKeywords[seg] {
			return seg
		}
	}
	return ""
}
