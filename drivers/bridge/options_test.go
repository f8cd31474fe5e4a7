package bridge

import (
	"errors"
	"testing"

	"github.com/patchbay/patchbay/cnm"
)

func TestParseOptionsInhibitIPv4(t *testing.T) {
	for _, tt := range []struct {
		v    string
		want bool
		bad  bool
	}{{"true", true, false}, {"false", false, false}, {"1", true, false}, {"maybe", false, true}} {
		o, err := ParseOptions(map[string]string{OptInhibitIPv4: tt.v})
		if tt.bad {
			if !errors.Is(err, cnm.ErrInvalid) {
				t.Errorf("%s=%s: %v, want invalid", OptInhibitIPv4, tt.v, err)
			}
			continue
		}
		if err != nil || o.InhibitIPv4 != tt.want {
			t.Errorf("%s=%s: %+v, %v", OptInhibitIPv4, tt.v, o, err)
		}
	}
}
