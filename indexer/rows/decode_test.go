package rows

import (
	"reflect"
	"testing"
	"time"

	"github.com/pangate/pangate/schemas"
)

// TestOnePassMatchesReference: for every event type, the one-pass decode (schemas.DecodeRecord) yields
// exactly the rows of the reference path (Parse, JSON Schema, VerifyEvent, encoding/json), and edited or
// malformed records still become the reference's dead letters.
func TestOnePassMatchesReference(t *testing.T) {
	now := func() time.Time { return time.Date(2026, 11, 27, 10, 0, 2, 0, time.UTC) }
	fast := &Mapper{Validate: schemas.Validate, Decode: schemas.DecodeRecord, Now: now}
	ref := &Mapper{Validate: schemas.Validate, Now: now}
	var decoded int
	for _, typ := range schemas.Types {
		d, err := schemas.Example(typ)
		if err != nil {
			t.Fatal(err)
		}
		e, err := schemas.NewChain("sess-1", schemas.Source{Instance: "gw-1", Version: "1"}).Next(typ, d)
		if err != nil {
			t.Fatal(err)
		}
		v, err := schemas.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := schemas.DecodeRecord(v); ok {
			decoded++
		}
		edited := []byte(string(v))
		edited[len(`{"data":{`)+1] ^= 1 // a key letter of data: no longer what the hash covers
		for _, val := range [][]byte{v, edited, append([]byte(" "), v...), []byte(`{"v":1}`), []byte(`not json`)} {
			rec := Record{Topic: "pangate.audit", Partition: 3, Offset: 9, Key: []byte("sess-1"), Value: val, Timestamp: now()}
			got, want := fast.Map(rec), ref.Map(rec)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: one-pass rows differ from the reference:\n%v\n%v", typ, got, want)
			}
		}
	}
	if decoded != len(schemas.Types) {
		t.Fatalf("the one-pass decode accepted %d of %d example records", decoded, len(schemas.Types))
	}
}
