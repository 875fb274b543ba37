package seed

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestPANsAreLuhnValidWithBrandShape(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, b := range Brands {
		for i := 0; i < 200; i++ {
			p := PAN(r, b)
			if len(p) != b.Length || !strings.HasPrefix(p, b.Prefix) || !LuhnValid(p) {
				t.Fatalf("%s: bad PAN %s", b.Name, p)
			}
		}
	}
	// Known test numbers.
	for _, p := range []string{"4111111111111111", "5555555555554444", "378282246310005", "6011111111111117"} {
		if !LuhnValid(p) {
			t.Errorf("LuhnValid(%s) = false", p)
		}
	}
	if LuhnValid("4111111111111112") {
		t.Error("LuhnValid accepted a wrong check digit")
	}
}
