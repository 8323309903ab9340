package condition

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"unicode/utf8"
	"unsafe"

	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
)

// This file evaluates the most common shapes of conditions straight on
// the JSON text of the event's data, without the CEL interpreter: fields
// of data compared with literals, presence tests, optional reads with a
// default, and the logical operators over them, for example
//
//	data.order_value > 0
//	data.status == "failed" || !has(data.reason)
//	data.?retry_count.orValue(0) < 3 && data.customer.vip == true
//
// A native program gives an answer only when it is certain that CEL would
// give the same bool without an error; in every other case (a missing
// key, a value of a type the operator does not take, an escaped string,
// an array, malformed text, data that is not raw JSON) it gives no answer
// and the condition runs on CEL, which produces the result or the error
// with its message. Because CEL's && is false when any of its terms is
// false, whatever the others are (errors included), and || true when any
// is true, a term without an answer does not stop its siblings from
// deciding.

// maxNativeKeys bounds the top-level keys a native program reads, so that
// their values fit in an array on the stack.
const maxNativeKeys = 8

// tri is the outcome of a boolean node: false, true, or no answer.
type tri uint8

const (
	triFalse tri = iota
	triTrue
	triUnknown
)

func triOf(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

// nkind is the kind of a native node.
type nkind uint8

const (
	nAnd  nkind = iota // every arg holds
	nOr                // some arg holds
	nNot               // args[0] does not hold
	nCmp               // op over lhs and rhs
	nHas               // has(path): the last key of lhs.path is present
	nBool              // lhs is a bool value
)

// cmpOp is a comparison operator.
type cmpOp uint8

const (
	opEq cmpOp = iota
	opNe
	opLt
	opLe
	opGt
	opGe
)

var cmpOps = map[string]cmpOp{
	operators.Equals:        opEq,
	operators.NotEquals:     opNe,
	operators.Less:          opLt,
	operators.LessEquals:    opLe,
	operators.Greater:       opGt,
	operators.GreaterEquals: opGe,
}

// nnode is a boolean node of a native program.
type nnode struct {
	kind     nkind
	op       cmpOp
	args     []*nnode
	lhs, rhs operand
}

// operand is a value: a literal, or a path of keys into data.
type operand struct {
	lit  nval // the literal; for an optional read, the default
	key  int  // index of the path's first key in nativeProgram.keys; -1 for a literal
	path []keyMatcher
	// opt marks an optional read (data.?a.?b.orValue(lit)): a missing
	// key gives lit instead of an error.
	opt bool
}

// vkind is the kind of a value.
type vkind uint8

const (
	vUnknown vkind = iota // no answer: CEL decides
	vNull
	vBool
	vDouble
	vInt
	vUint
	vString
	vObject
)

// nval is a value read from JSON text or written as a literal.
type nval struct {
	kind vkind
	b    bool
	f    float64
	i    int64
	u    uint64
	s    string // vString; for vObject, the object's text
}

// nativeProgram is a condition compiled for native evaluation.
type nativeProgram struct {
	keys []keyMatcher // the top-level keys of data the condition reads
	root *nnode
}

// compileNative returns the native form of the checked expression, or
// nil when its shape is not one native evaluation covers.
func compileNative(a *ast.AST) *nativeProgram {
	c := nativeCompiler{refs: a.ReferenceMap()}
	root := c.boolean(a.Expr())
	if root == nil || c.failed {
		return nil
	}
	return &nativeProgram{keys: c.keys, root: root}
}

type nativeCompiler struct {
	refs   map[int64]*ast.ReferenceInfo
	keys   []keyMatcher
	failed bool
}

// boolean compiles an expression used as a bool.
func (c *nativeCompiler) boolean(e ast.Expr) *nnode {
	switch e.Kind() {
	case ast.CallKind:
		call := e.AsCall()
		if call.IsMemberFunction() {
			break
		}
		args := call.Args()
		switch fn := call.FunctionName(); fn {
		case operators.LogicalAnd, operators.LogicalOr:
			n := &nnode{kind: nAnd}
			if fn == operators.LogicalOr {
				n.kind = nOr
			}
			for _, a := range args {
				sub := c.boolean(a)
				if sub == nil {
					return nil
				}
				n.args = append(n.args, sub)
			}
			return n
		case operators.LogicalNot:
			if len(args) != 1 {
				return nil
			}
			sub := c.boolean(args[0])
			if sub == nil {
				return nil
			}
			return &nnode{kind: nNot, args: []*nnode{sub}}
		default:
			op, ok := cmpOps[fn]
			if !ok || len(args) != 2 {
				return nil
			}
			l, lok := c.operand(args[0])
			r, rok := c.operand(args[1])
			if !lok || !rok {
				return nil
			}
			return &nnode{kind: nCmp, op: op, lhs: l, rhs: r}
		}
	case ast.SelectKind:
		sel := e.AsSelect()
		if sel.IsTestOnly() {
			o, ok := c.path(sel.Operand(), sel.FieldName(), false)
			if !ok {
				return nil
			}
			return &nnode{kind: nHas, lhs: o}
		}
	}
	o, ok := c.operand(e)
	if !ok {
		return nil
	}
	return &nnode{kind: nBool, lhs: o}
}

// operand compiles a value: a literal, data.a.b…, or
// data.?a.?b….orValue(literal).
func (c *nativeCompiler) operand(e ast.Expr) (operand, bool) {
	switch e.Kind() {
	case ast.LiteralKind:
		v, ok := literal(e.AsLiteral())
		return operand{lit: v, key: -1}, ok
	case ast.SelectKind:
		sel := e.AsSelect()
		if sel.IsTestOnly() || c.refs[e.ID()] != nil {
			return operand{}, false
		}
		return c.path(sel.Operand(), sel.FieldName(), false)
	case ast.CallKind:
		call := e.AsCall()
		if !call.IsMemberFunction() || call.FunctionName() != "orValue" || len(call.Args()) != 1 {
			return operand{}, false
		}
		def, ok := literal(literalOf(call.Args()[0]))
		if !ok {
			return operand{}, false
		}
		o, ok := c.optPath(call.Target())
		if !ok {
			return operand{}, false
		}
		o.lit = def
		return o, true
	}
	return operand{}, false
}

func literalOf(e ast.Expr) any {
	if e.Kind() != ast.LiteralKind {
		return nil
	}
	return e.AsLiteral()
}

// path compiles x.field, where x is data or a path of selects from it.
func (c *nativeCompiler) path(x ast.Expr, field string, opt bool) (operand, bool) {
	keys := []string{field}
	for {
		switch x.Kind() {
		case ast.IdentKind:
			return c.rooted(x, keys, opt)
		case ast.SelectKind:
			sel := x.AsSelect()
			if sel.IsTestOnly() || c.refs[x.ID()] != nil {
				return operandNone, false
			}
			keys = append(keys, sel.FieldName())
			x = sel.Operand()
		default:
			return operandNone, false
		}
	}
}

// optPath compiles data.?a.?b…: optional selects all the way.
func (c *nativeCompiler) optPath(e ast.Expr) (operand, bool) {
	var keys []string
	for {
		if e.Kind() == ast.IdentKind {
			if len(keys) == 0 {
				return operandNone, false
			}
			return c.rooted(e, keys, true)
		}
		if e.Kind() != ast.CallKind {
			return operandNone, false
		}
		call := e.AsCall()
		args := call.Args()
		if call.IsMemberFunction() || call.FunctionName() != operators.OptSelect || len(args) != 2 {
			return operandNone, false
		}
		name, ok := literalOf(args[1]).(types.String)
		if !ok {
			return operandNone, false
		}
		keys = append(keys, string(name))
		e = args[0]
	}
}

var operandNone = operand{key: -1}

// rooted finishes a path whose root is the identifier id; keys are in
// reverse order.
func (c *nativeCompiler) rooted(id ast.Expr, keys []string, opt bool) (operand, bool) {
	if id.AsIdent() != nameData {
		return operandNone, false
	}
	if ref := c.refs[id.ID()]; ref == nil || ref.Name != nameData || ref.Value != nil {
		return operandNone, false
	}
	o := operand{key: -1, opt: opt}
	top := keys[len(keys)-1]
	for i, k := range c.keys {
		if k.key == top {
			o.key = i
		}
	}
	if o.key < 0 {
		if len(c.keys) == maxNativeKeys {
			c.failed = true
			return operandNone, false
		}
		o.key = len(c.keys)
		c.keys = append(c.keys, newKeyMatcher(top))
	}
	for i := len(keys) - 2; i >= 0; i-- {
		o.path = append(o.path, newKeyMatcher(keys[i]))
	}
	return o, true
}

// literal converts a CEL literal.
func literal(v any) (nval, bool) {
	switch v := v.(type) {
	case types.Null:
		return nval{kind: vNull}, true
	case types.Bool:
		return nval{kind: vBool, b: bool(v)}, true
	case types.Int:
		return nval{kind: vInt, i: int64(v)}, true
	case types.Uint:
		return nval{kind: vUint, u: uint64(v)}, true
	case types.Double:
		if math.IsNaN(float64(v)) {
			return nval{}, false
		}
		return nval{kind: vDouble, f: float64(v)}, true
	case types.String:
		return nval{kind: vString, s: string(v)}, true
	}
	return nval{}, false
}

// rawObject returns the text of a JSON object that data, as a Context
// returns it, holds; false when data is anything else. It reads data as
// activation.dataValue does.
func rawObject(d any) ([]byte, bool) {
	var raw []byte
	switch d := d.(type) {
	case json.RawMessage:
		raw = d
	case *json.RawMessage:
		if d == nil {
			return nil, false
		}
		raw = *d
	default:
		return nil, false
	}
	return objectText(raw)
}

// objectText returns raw without surrounding white space when it holds an
// object, as far as its first and last bytes tell.
func objectText(raw []byte) ([]byte, bool) {
	b := raw
	if len(b) == 0 || b[0] != '{' || b[len(b)-1] != '}' {
		b = bytes.TrimSpace(b)
	}
	if len(b) > 0 && b[0] == '{' && b[len(b)-1] == '}' {
		return b, true
	}
	return nil, false
}

// fields holds the values of the top-level keys of one evaluation.
type fields struct {
	val   [maxNativeKeys][]byte
	found [maxNativeKeys]bool
	bad   bool // the object is malformed: every read is an error
}

// eval evaluates the program on data; ok is false when it has no answer.
func (p *nativeProgram) eval(d any) (result, ok bool) {
	obj, isObj := rawObject(d)
	if !isObj {
		return false, false
	}
	var f fields
	s := memberScanner{b: obj}
	for {
		k, esc, v, more := s.next()
		if !more {
			break
		}
		for i := range p.keys {
			if p.keys[i].is(k, esc) {
				f.val[i], f.found[i] = v, true
			}
		}
	}
	f.bad = s.err != nil
	switch p.root.eval(&f) {
	case triTrue:
		return true, true
	case triFalse:
		return false, true
	}
	return false, false
}

func (n *nnode) eval(f *fields) tri {
	switch n.kind {
	case nAnd:
		out := triTrue
		for _, a := range n.args {
			switch a.eval(f) {
			case triFalse:
				return triFalse
			case triUnknown:
				out = triUnknown
			}
		}
		return out
	case nOr:
		out := triFalse
		for _, a := range n.args {
			switch a.eval(f) {
			case triTrue:
				return triTrue
			case triUnknown:
				out = triUnknown
			}
		}
		return out
	case nNot:
		switch n.args[0].eval(f) {
		case triTrue:
			return triFalse
		case triFalse:
			return triTrue
		}
		return triUnknown
	case nCmp:
		return compare(n.op, n.lhs.value(f), n.rhs.value(f))
	case nHas:
		return n.lhs.has(f)
	case nBool:
		if v := n.lhs.value(f); v.kind == vBool {
			return triOf(v.b)
		}
	}
	return triUnknown
}

// raw returns the text of the value the operand's path leads to, whether
// the last key is present, and false when reading it is an error (or not
// decided here): a missing key before the last, a value on the way that
// is not an object, malformed text.
func (o *operand) raw(f *fields) ([]byte, bool, bool) {
	if f.bad {
		return nil, false, false
	}
	v, found := f.val[o.key], f.found[o.key]
	for i := range o.path {
		if !found {
			if o.opt {
				return nil, false, true
			}
			return nil, false, false
		}
		if len(v) == 0 || v[0] != '{' {
			return nil, false, false
		}
		var ok bool
		v, found, ok = lookupIn(v, o.path[i])
		if !ok {
			return nil, false, false
		}
	}
	return v, found, true
}

// lookupIn finds a key in the object text obj as jsonObject.lookup does;
// ok is false when the text is malformed.
func lookupIn(obj []byte, m keyMatcher) (val []byte, found, ok bool) {
	s := memberScanner{b: obj}
	for {
		k, esc, v, more := s.next()
		if !more {
			return val, found, s.err == nil
		}
		if m.is(k, esc) {
			val, found = v, true
		}
	}
}

// value returns the operand's value, vUnknown when reading it is an error
// or not decided here.
func (o *operand) value(f *fields) nval {
	if o.key < 0 {
		return o.lit
	}
	v, found, ok := o.raw(f)
	switch {
	case !ok:
		return nval{}
	case !found && o.opt:
		return o.lit
	case !found:
		return nval{}
	}
	return decodeNative(v)
}

// has evaluates has(path): CEL finds the last key and decodes its value,
// so a value that does not decode is an error.
func (o *operand) has(f *fields) tri {
	v, found, ok := o.raw(f)
	if !ok {
		return triUnknown
	}
	if !found {
		return triFalse
	}
	if decodeNative(v).kind == vUnknown {
		return triUnknown
	}
	return triTrue
}

// decodeNative decodes the JSON value whose extent is exactly v as
// decodeJSON does; vUnknown for what it leaves to CEL (strings with
// escapes, arrays, anything malformed).
func decodeNative(v []byte) nval {
	switch c := v[0]; {
	case c == '{':
		return nval{kind: vObject, s: unsafe.String(&v[0], len(v))}
	case c == '"':
		if s, ok := unescapedString(v); ok {
			return nval{kind: vString, s: s}
		}
	case c == 't' && string(v) == "true":
		return nval{kind: vBool, b: true}
	case c == 'f' && string(v) == "false":
		return nval{kind: vBool}
	case c == 'n' && string(v) == "null":
		return nval{kind: vNull}
	case c == '-' || (c >= '0' && c <= '9'):
		if !isNumber(v) {
			break
		}
		x, err := parseNumber(v)
		if err != nil {
			break
		}
		return nval{kind: vDouble, f: x}
	}
	return nval{}
}

// unescapedString returns the contents of a JSON string without escapes
// or control characters, in valid UTF-8: what encoding/json would decode
// it to, without copying.
func unescapedString(v []byte) (string, bool) {
	if s, ok := plainString(v); ok {
		return s, true
	}
	if len(v) < 2 || v[len(v)-1] != '"' {
		return "", false
	}
	in := v[1 : len(v)-1]
	for _, c := range in {
		if c == '\\' || c == '"' || c < 0x20 {
			return "", false
		}
	}
	if !utf8.Valid(in) {
		return "", false
	}
	return unsafe.String(&in[0], len(in)), true
}

// compare applies a comparison as CEL does: == and != by CEL's
// heterogeneous equality, the orderings by the Compare of the left
// operand's type (numbers compare across int, uint and double).
func compare(op cmpOp, l, r nval) tri {
	if l.kind == vUnknown || r.kind == vUnknown {
		return triUnknown
	}
	switch op {
	case opEq, opNe:
		eq, ok := equal(l, r)
		if !ok {
			return triUnknown
		}
		return triOf(eq == (op == opEq))
	}
	c, ok := order(l, r)
	if !ok {
		return triUnknown
	}
	switch op {
	case opLt:
		return triOf(c < 0)
	case opLe:
		return triOf(c <= 0)
	case opGt:
		return triOf(c > 0)
	default:
		return triOf(c >= 0)
	}
}

// equal is types.Equal over native values; false ok when an object is
// compared with anything but null (CEL decodes it in full).
func equal(l, r nval) (eq, ok bool) {
	if l.kind == vNull || r.kind == vNull {
		return l.kind == r.kind, true
	}
	if l.kind == vObject || r.kind == vObject {
		return false, false
	}
	if isNum(l.kind) && isNum(r.kind) {
		c, ok := compareNum(l, r)
		return ok && c == 0, true
	}
	if l.kind != r.kind {
		return false, true
	}
	switch l.kind {
	case vBool:
		return l.b == r.b, true
	case vString:
		return l.s == r.s, true
	}
	return false, false
}

// order is the Compare of l's type applied to r: -1, 0 or 1, or false
// when CEL has no such overload.
func order(l, r nval) (int, bool) {
	switch {
	case isNum(l.kind) && isNum(r.kind):
		return compareNum(l, r)
	case l.kind != r.kind:
		return 0, false
	case l.kind == vString:
		return strings.Compare(l.s, r.s), true
	case l.kind == vBool:
		switch {
		case l.b == r.b:
			return 0, true
		case !l.b:
			return -1, true
		}
		return 1, true
	}
	return 0, false
}

func isNum(k vkind) bool { return k == vDouble || k == vInt || k == vUint }

// compareNum compares two numbers of any of CEL's numeric types as CEL's
// cross-type comparisons do; false when one is NaN (no ordering; not
// equal).
func compareNum(l, r nval) (int, bool) {
	switch l.kind {
	case vDouble:
		if math.IsNaN(l.f) {
			return 0, false
		}
		switch r.kind {
		case vDouble:
			if math.IsNaN(r.f) {
				return 0, false
			}
			return cmpDouble(l.f, r.f), true
		case vInt:
			return cmpDoubleInt(l.f, r.i), true
		default:
			return cmpDoubleUint(l.f, r.u), true
		}
	case vInt:
		switch r.kind {
		case vDouble:
			if math.IsNaN(r.f) {
				return 0, false
			}
			return -cmpDoubleInt(r.f, l.i), true
		case vInt:
			return cmpInt(l.i, r.i), true
		default:
			return cmpIntUint(l.i, r.u), true
		}
	default:
		switch r.kind {
		case vDouble:
			if math.IsNaN(r.f) {
				return 0, false
			}
			return -cmpDoubleUint(r.f, l.u), true
		case vInt:
			return -cmpIntUint(r.i, l.u), true
		default:
			return cmpUint(l.u, r.u), true
		}
	}
}

// The numeric comparisons of cel-go's common/types, on plain values.

func cmpDouble(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpDoubleInt(d float64, i int64) int {
	if d < math.MinInt64 {
		return -1
	}
	if d > math.MaxInt64 {
		return 1
	}
	return cmpDouble(d, float64(i))
}

func cmpDoubleUint(d float64, u uint64) int {
	if d < 0 {
		return -1
	}
	if d > math.MaxUint64 {
		return 1
	}
	return cmpDouble(d, float64(u))
}

func cmpIntUint(i int64, u uint64) int {
	if i < 0 || u > math.MaxInt64 {
		return -1
	}
	return cmpInt(i, int64(u))
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
