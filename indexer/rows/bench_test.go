package rows

import (
	"testing"
	"time"

	"github.com/pangate/pangate/schemas"
)

// BenchmarkMap measures the CPU cost per record of validation, hash verification and mapping.
func BenchmarkMap(b *testing.B) {
	d, _ := schemas.Example(schemas.TypeQueryExecuted)
	e, _ := schemas.NewChain("s", schemas.Source{Instance: "gw", Version: "1"}).Next(schemas.TypeQueryExecuted, d)
	v, _ := schemas.Marshal(e)
	rec := Record{Topic: "pangate.audit", Value: v, Timestamp: time.Now()}
	for _, tc := range []struct {
		name string
		m    *Mapper
	}{{"validate", NewMapper()}, {"novalidate", &Mapper{Now: time.Now}}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if rs := tc.m.Map(rec); len(rs) < 2 {
					b.Fatal(rs)
				}
			}
		})
	}
}
