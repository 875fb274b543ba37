// Package configload loads every pangate service's configuration the same way: a strict YAML file (an
// unknown key is an error, so a typo never silently falls back to a default), then PANGATE_<SERVICE>_…
// environment variables that override single settings, found by reflection over the yaml tags. Defaults
// and Validate stay with each service's own config package, which calls Load in between.
//
//	file (optional) ──strict YAML──▶ Config ◀──PANGATE_<SERVICE>_<YAML_PATH>── environment
//
// A variable names a setting by its YAML path in upper case joined with '_' after the service's prefix:
// kafka.sasl.password_file is PANGATE_GATEWAY_KAFKA_SASL_PASSWORD_FILE. Strings, booleans, numbers, Go
// durations (5s, 1m30s) and comma-separated lists of strings can be set this way; lists of structures and
// maps are set in the file only. A variable with the service's prefix that names no setting is an error.
// Names that older versions documented stay accepted as Aliases (docs/deploy.md lists them).
package configload

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ErrInvalid is wrapped by every error Load returns unless Options.Err names the service's own.
var ErrInvalid = errors.New("config")

// Options says where the overrides come from.
type Options struct {
	// Prefix starts every override, e.g. "PANGATE_GATEWAY_".
	Prefix string
	// Environ holds the variables in os.Environ() form; nil: no overrides.
	Environ []string
	// Aliases map older variable names to the settings they set, both without Prefix: for example
	// "DATABASE" → "CLICKHOUSE_DATABASE". When both are set, the YAML-path name wins.
	Aliases map[string]string
	// Ignore names variables (without Prefix) that the service reads elsewhere, for example "CONFIG" for
	// the approver's configuration file path: they are not reported as naming no setting.
	Ignore []string
	// Err is wrapped by every error, so that each line names the service (for example the gateway's
	// config.ErrInvalid); default ErrInvalid.
	Err error
}

func (o Options) err() error {
	if o.Err != nil {
		return o.Err
	}
	return ErrInvalid
}

// Load decodes the YAML file at path (empty: none) into dst, a pointer to a struct that may already hold
// defaults, refusing unknown keys; then applies the overrides of o. It does not validate.
func Load(path string, dst any, o Options) error {
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("%w: read %s: %v", o.err(), path, err)
		}
		if err := Decode(b, dst); err != nil {
			return fmt.Errorf("%w: parse %s: %v", o.err(), path, err)
		}
	}
	return Env(dst, o)
}

// Decode decodes YAML b into dst strictly: every key must name a field.
func Decode(b []byte, dst any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(dst); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// Env applies the variables of o.Environ that start with o.Prefix to dst (a pointer to a struct) and
// reports every variable that names no setting or holds a value of the wrong kind.
func Env(dst any, o Options) error {
	vars := map[string]string{}
	for _, kv := range o.Environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(k, o.Prefix) {
			vars[strings.TrimPrefix(k, o.Prefix)] = v
		}
	}
	for _, k := range o.Ignore {
		delete(vars, k)
	}
	if len(vars) == 0 {
		return nil
	}
	names := map[string]string{} // setting name → variable that set it (for messages)
	for k := range vars {
		names[k] = o.Prefix + k
	}
	for old, canonical := range o.Aliases {
		v, ok := vars[old]
		if !ok {
			continue
		}
		delete(vars, old)
		if _, set := vars[canonical]; !set {
			vars[canonical] = v
			names[canonical] = o.Prefix + old
		}
	}
	used := map[string]bool{}
	var errs []error
	walk(reflect.ValueOf(dst).Elem(), "", func(name string, fv reflect.Value) {
		raw, ok := vars[name]
		if !ok {
			return
		}
		used[name] = true
		if err := setScalar(fv, raw); err != nil {
			errs = append(errs, fmt.Errorf("%w: %s=%q: %v", o.err(), names[name], raw, err))
		}
	})
	var unknown []string
	for k := range vars {
		if !used[k] {
			unknown = append(unknown, names[k])
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		errs = append(errs, fmt.Errorf("%w: environment variable %s names no setting: use %s followed by the setting's YAML path in upper case (lists of structures and maps are set in the file only)", o.err(), k, o.Prefix))
	}
	return errors.Join(errs...)
}

// Vars lists every variable name (with prefix) that sets a setting of the struct dst points to, sorted;
// aliases are not included.
func Vars(dst any, prefix string) []string {
	var out []string
	walk(reflect.ValueOf(dst).Elem(), "", func(name string, fv reflect.Value) {
		if settable(fv.Type()) {
			out = append(out, prefix+name)
		}
	})
	sort.Strings(out)
	return out
}

var durationType = reflect.TypeOf(time.Duration(0))

// settable reports whether a variable can set a field of type t (setScalar accepts it).
func settable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int64, reflect.Int32, reflect.Float64:
		return true
	case reflect.Slice:
		return t.Elem().Kind() == reflect.String
	case reflect.Pointer:
		return t.Elem().Kind() == reflect.Bool
	}
	return false
}

// walk calls visit for every non-struct field reachable through yaml-tagged fields, with its name (the
// YAML path in upper case, joined with '_'). Inline structs add no path element.
func walk(v reflect.Value, prefix string, visit func(name string, fv reflect.Value)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		fv := v.Field(i)
		if tag == "" && f.Anonymous && f.Type.Kind() == reflect.Struct && strings.Contains(","+opts+",", ",inline,") {
			walk(fv, prefix, visit)
			continue
		}
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		name := prefix + strings.ToUpper(tag)
		if f.Type.Kind() == reflect.Struct && f.Type != durationType {
			walk(fv, name+"_", visit)
			continue
		}
		visit(name, fv)
	}
}

func setScalar(fv reflect.Value, raw string) error {
	if fv.Type() == durationType {
		d, err := time.ParseDuration(raw)
		if err != nil {
			return errors.New("not a duration: use e.g. 500ms, 5s or 1m30s")
		}
		fv.SetInt(int64(d))
		return nil
	}
	switch fv.Kind() {
	case reflect.String:
		fv.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return errors.New("not true or false")
		}
		fv.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, err := strconv.ParseInt(raw, 10, fv.Type().Bits())
		if err != nil {
			return errors.New("not a whole number")
		}
		fv.SetInt(n)
	case reflect.Float64:
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return errors.New("not a number")
		}
		fv.SetFloat(f)
	case reflect.Slice:
		if fv.Type().Elem().Kind() != reflect.String {
			return errors.New("this list can only be set in the file")
		}
		var parts []string
		for _, p := range strings.Split(raw, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		fv.Set(reflect.ValueOf(parts).Convert(fv.Type()))
	case reflect.Pointer:
		if fv.Type().Elem().Kind() == reflect.Bool {
			b, err := strconv.ParseBool(raw)
			if err != nil {
				return errors.New("not true or false")
			}
			fv.Set(reflect.ValueOf(&b))
			return nil
		}
		return errors.New("this setting can only be set in the file")
	default:
		return errors.New("this setting can only be set in the file")
	}
	return nil
}
