package event

import "testing"

// FuzzDecodeValid checks that DecodeValid, which skips checks Decode has
// made, accepts and refuses exactly what Decode followed by Validate does.
func FuzzDecodeValid(f *testing.F) {
	f.Add([]byte(`{"specversion":"1.0","id":"a","source":"s","type":"t","data":{"x":"\u00e9\ud83d\ude00"}}`), 120)
	f.Add([]byte(`{"specversion":"1.0","id":"a","source":"s","type":"t","datacontenttype":"text/plain","data":"\xff\xff\xff"}`), 60)
	f.Add([]byte(`{"specversion":"1.0","id":"a","source":"s","type":"t","ext":"\u2028","data":[1,2,3]}`), 80)
	f.Fuzz(func(t *testing.T, b []byte, max int) {
		lim := Limits{MaxSize: max%4096 + 1}
		_, err1 := DecodeValid(b, lim)
		var err2 error
		e, err := Decode(b)
		if err != nil {
			err2 = err
		} else {
			err2 = e.Validate(lim)
		}
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("DecodeValid: %v; Decode+Validate: %v; input %q, limit %d", err1, err2, b, lim.MaxSize)
		}
	})
}
