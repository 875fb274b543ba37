package configload

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type inner struct {
	Brokers []string `yaml:"brokers"`
	Prefix  string   `yaml:"topic_prefix"`
}

type testConfig struct {
	Name  string        `yaml:"name"`
	N     int           `yaml:"n"`
	F     float64       `yaml:"f"`
	On    bool          `yaml:"on"`
	Maybe *bool         `yaml:"maybe"`
	Wait  time.Duration `yaml:"wait"`
	Kafka struct {
		inner `yaml:",inline"`
		Group string `yaml:"group"`
	} `yaml:"kafka"`
	Nested struct {
		Deep struct {
			Key string `yaml:"key"`
		} `yaml:"deep"`
	} `yaml:"nested"`
	Items  []struct{ A string } `yaml:"items"`
	Labels map[string]string    `yaml:"labels"`
	hidden string
}

var errTest = errors.New("test config")

func TestEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     []string
		aliases map[string]string
		check   func(c testConfig) bool
		wantErr string
	}{
		{"string", []string{"T_NAME=x"}, nil, func(c testConfig) bool { return c.Name == "x" }, ""},
		{"empty string sets empty", []string{"T_NAME="}, nil, func(c testConfig) bool { return c.Name == "" }, ""},
		{"int", []string{"T_N=42"}, nil, func(c testConfig) bool { return c.N == 42 }, ""},
		{"float", []string{"T_F=2.5"}, nil, func(c testConfig) bool { return c.F == 2.5 }, ""},
		{"bool", []string{"T_ON=true"}, nil, func(c testConfig) bool { return c.On }, ""},
		{"bool pointer", []string{"T_MAYBE=false"}, nil, func(c testConfig) bool { return c.Maybe != nil && !*c.Maybe }, ""},
		{"duration", []string{"T_WAIT=1m30s"}, nil, func(c testConfig) bool { return c.Wait == 90*time.Second }, ""},
		{"list trims and drops empties", []string{"T_KAFKA_BROKERS= a:1, ,b:2 "}, nil, func(c testConfig) bool { return strings.Join(c.Kafka.Brokers, "|") == "a:1|b:2" }, ""},
		{"inline struct adds no path element", []string{"T_KAFKA_TOPIC_PREFIX=p-"}, nil, func(c testConfig) bool { return c.Kafka.Prefix == "p-" }, ""},
		{"nested", []string{"T_NESTED_DEEP_KEY=k"}, nil, func(c testConfig) bool { return c.Nested.Deep.Key == "k" }, ""},
		{"other prefixes ignored", []string{"OTHER_NAME=x", "T2_NAME=y"}, nil, func(c testConfig) bool { return c.Name == "" }, ""},
		{"alias", []string{"T_GROUP=g"}, map[string]string{"GROUP": "KAFKA_GROUP"}, func(c testConfig) bool { return c.Kafka.Group == "g" }, ""},
		{"path name wins over alias", []string{"T_GROUP=old", "T_KAFKA_GROUP=new"}, map[string]string{"GROUP": "KAFKA_GROUP"}, func(c testConfig) bool { return c.Kafka.Group == "new" }, ""},
		{"unknown variable", []string{"T_NO_SUCH=1"}, nil, nil, "T_NO_SUCH names no setting"},
		{"ignored variable", []string{"T_CONFIG=/etc/x.yaml"}, nil, func(c testConfig) bool { return c.Name == "" }, ""},
		{"bad int", []string{"T_N=many"}, nil, nil, "T_N=\"many\": not a whole number"},
		{"bad duration", []string{"T_WAIT=soon"}, nil, nil, "not a duration"},
		{"bad bool", []string{"T_ON=yes please"}, nil, nil, "not true or false"},
		{"bad alias value names the alias", []string{"T_NUMBER=x"}, map[string]string{"NUMBER": "N"}, nil, "T_NUMBER="},
		{"list of structures", []string{"T_ITEMS=a"}, nil, nil, "only be set in the file"},
		{"map", []string{"T_LABELS=a"}, nil, nil, "only be set in the file"},
		{"unexported field", []string{"T_HIDDEN=a"}, nil, nil, "names no setting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c testConfig
			err := Env(&c, Options{Prefix: "T_", Environ: tc.env, Aliases: tc.aliases, Ignore: []string{"CONFIG"}, Err: errTest})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, errTest) {
					t.Fatalf("error %v, want one wrapping errTest that says %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("not applied: %+v", c)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Defaults set before Load survive keys the file leaves out; the environment overrides the file.
	c := testConfig{N: 7}
	p := write("ok.yaml", "name: file\nkafka: {brokers: [k:1], topic_prefix: f-, group: g}\n")
	if err := Load(p, &c, Options{Prefix: "T_", Environ: []string{"T_NAME=env"}}); err != nil {
		t.Fatal(err)
	}
	if c.Name != "env" || c.N != 7 || c.Kafka.Prefix != "f-" || c.Kafka.Group != "g" || len(c.Kafka.Brokers) != 1 {
		t.Fatalf("loaded %+v", c)
	}
	for _, tc := range []struct{ name, body, want string }{
		{"typo", "nmae: x\n", "nmae"},
		{"wrong type", "n: many\n", "many"},
		{"unknown nested key", "kafka: {topic: t}\n", "topic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c testConfig
			err := Load(write(tc.name+".yaml", tc.body), &c, Options{Prefix: "T_"})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v, want ErrInvalid naming %q", err, tc.want)
			}
		})
	}
	var empty testConfig
	if err := Load(write("empty.yaml", ""), &empty, Options{}); err != nil {
		t.Fatalf("empty file: %v", err)
	}
	if err := Load(filepath.Join(dir, "missing.yaml"), &empty, Options{}); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestVars(t *testing.T) {
	got := strings.Join(Vars(&testConfig{}, "T_"), " ")
	for _, want := range []string{"T_NAME", "T_KAFKA_BROKERS", "T_KAFKA_TOPIC_PREFIX", "T_KAFKA_GROUP", "T_NESTED_DEEP_KEY"} {
		if !strings.Contains(" "+got+" ", " "+want+" ") {
			t.Errorf("Vars lacks %s: %s", want, got)
		}
	}
	if strings.Contains(got, "HIDDEN") || strings.Contains(got, "T_KAFKA_INNER") {
		t.Errorf("Vars lists a field that is no setting: %s", got)
	}
}
