package jsonvalid_test

import (
	"fmt"

	"github.com/choreohq/choreo/internal/jsonvalid"
)

func ExampleValid() {
	for _, s := range []string{`{"order":42,"items":["a","b"]}`, `{"order":42,}`, `"\ud800"`, `01`} {
		fmt.Println(jsonvalid.Valid([]byte(s)))
	}
	// Output:
	// true
	// false
	// true
	// false
}
