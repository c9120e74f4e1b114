package userscene

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
)

// Limits of the templates of a scene file. A template cannot loop
// (range, and defining or calling other templates, are refused when the
// file is read), its functions are the safe set of funcs, and what it
// writes is capped, so a frame always ends.
const (
	// MaxTemplate is the longest template source, in bytes.
	MaxTemplate = 4096
	// MaxOutput is the most a template may write when it runs, in bytes.
	MaxOutput = 4096
	// maxWidth caps the width and precision of a printf verb.
	maxWidth = 64
)

// missing is the value of an input that has no value yet: it prints as
// "-", compares equal only to itself and "-", and makes the arithmetic and
// printf it goes into give "-" too.
type missing struct{}

// String prints a missing value.
func (missing) String() string { return "-" }

// Missing is what an input without a value renders as.
const Missing = "-"

// tmpl is one text of a scene file that may hold template actions: a
// text, a colour, a number, a condition.
type tmpl struct {
	line  int    // the file line its first line is on
	text  string // the whole text when it has no actions
	t     *template.Template
	fixed bool // no actions: text is the result
}

// names are what a scene's templates may refer to: its parameters and
// inputs.
type names struct {
	params map[string]bool
	inputs map[string]bool
}

// deviceFields are the fields of .device.
var deviceFields = []string{"name", "width", "height"}

// compileTemplate parses src, which starts on line of the file (lines
// inside src count from there). It refuses what could loop or reach
// outside the scene: range, define, template and block, functions outside
// funcs, and fields that are not .params.<name>, .inputs.<name>, .now or
// .device.name/width/height.
func compileTemplate(src string, line int, n names) (*tmpl, error) {
	if len(src) > MaxTemplate {
		return nil, &lineError{line, fmt.Errorf("template is %d bytes; at most %d", len(src), MaxTemplate)}
	}
	if !strings.Contains(src, "{{") {
		return &tmpl{line: line, text: src, fixed: true}, nil
	}
	t, err := template.New("t").Funcs(funcs()).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, &lineError{line + templateLine(err.Error()) - 1, cleanTemplateError(err)}
	}
	if len(t.Templates()) > 1 || t.Tree == nil {
		return nil, &lineError{line, errors.New("define and block are not allowed in scene templates")}
	}
	c := checker{t: t, names: n}
	c.list(t.Tree.Root, false)
	if c.err != nil {
		return nil, &lineError{line + c.errLine - 1, c.err}
	}
	return &tmpl{line: line, t: t}, nil
}

// checker walks a template's parse tree and keeps the first problem.
type checker struct {
	t       *template.Template
	names   names
	err     error
	errLine int
}

func (c *checker) fail(n parse.Node, format string, args ...any) {
	if c.err != nil {
		return
	}
	c.err = fmt.Errorf(format, args...)
	loc, _ := c.t.ErrorContext(n)
	c.errLine = templateLine(loc)
}

func (c *checker) list(l *parse.ListNode, inWith bool) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		c.node(n, inWith)
	}
}

func (c *checker) node(n parse.Node, inWith bool) {
	switch n := n.(type) {
	case *parse.ActionNode:
		c.pipe(n.Pipe, inWith)
	case *parse.IfNode:
		c.pipe(n.Pipe, inWith)
		c.list(n.List, inWith)
		c.list(n.ElseList, inWith)
	case *parse.WithNode:
		c.pipe(n.Pipe, inWith)
		c.list(n.List, true)
		c.list(n.ElseList, inWith)
	case *parse.RangeNode:
		c.fail(n, "range is not allowed in scene templates (a frame must not loop)")
	case *parse.TemplateNode:
		c.fail(n, "template and block are not allowed in scene templates")
	case *parse.BreakNode, *parse.ContinueNode:
		c.fail(n, "break and continue are not allowed in scene templates")
	case *parse.TextNode, *parse.CommentNode:
	default:
		c.fail(n, "unexpected %s in a scene template", n)
	}
}

func (c *checker) pipe(p *parse.PipeNode, inWith bool) {
	if p == nil {
		return
	}
	for _, cmd := range p.Cmds {
		for _, arg := range cmd.Args {
			c.arg(arg, inWith)
		}
	}
}

func (c *checker) arg(n parse.Node, inWith bool) {
	switch n := n.(type) {
	case *parse.IdentifierNode:
		if !slices.Contains(FuncNames(), n.Ident) {
			c.fail(n, "function %q is not available in scene templates (functions: %s)", n.Ident, strings.Join(FuncNames(), ", "))
		}
	case *parse.FieldNode:
		if !inWith {
			c.field(n, n.Ident)
		}
	case *parse.VariableNode:
		if len(n.Ident) > 1 && n.Ident[0] == "$" {
			c.field(n, n.Ident[1:])
		}
	case *parse.ChainNode:
		c.arg(n.Node, inWith)
	case *parse.PipeNode:
		c.pipe(n, inWith)
	}
}

// field checks a field chain that starts at the template's data.
func (c *checker) field(n parse.Node, ident []string) {
	if len(ident) == 0 {
		return
	}
	sub := ""
	if len(ident) > 1 {
		sub = ident[1]
	}
	switch ident[0] {
	case "now":
	case "params":
		if sub != "" && !c.names.params[sub] {
			c.fail(n, "no parameter %q (parameters: %s)", sub, listOf(c.names.params))
		}
	case "inputs":
		if sub != "" && !c.names.inputs[sub] {
			c.fail(n, "no input %q (inputs: %s)", sub, listOf(c.names.inputs))
		}
	case "device":
		if sub != "" && !slices.Contains(deviceFields, sub) {
			c.fail(n, "no field .device.%s (fields: %s)", sub, strings.Join(deviceFields, ", "))
		}
	default:
		c.fail(n, "unknown field .%s (a template sees .params, .inputs, .now and .device)", ident[0])
	}
}

func listOf(set map[string]bool) string {
	if len(set) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(set)), ", ")
}

// templateLine reads the line from text/template's "template: t:LINE:..."
// or "t:LINE:COL" (1 if there is none).
func templateLine(s string) int {
	_, rest, ok := strings.Cut(s, "t:")
	if !ok {
		return 1
	}
	digits := rest
	if i := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		digits = rest[:i]
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// cleanTemplateError drops text/template's "template: t:3: " prefix.
func cleanTemplateError(err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "template: ")
	if strings.HasPrefix(msg, "t:") {
		rest := msg[2:]
		// t:LINE: or t:LINE:COL:
		for range 2 {
			i := strings.IndexByte(rest, ':')
			if i < 0 {
				break
			}
			if _, err := strconv.Atoi(rest[:i]); err != nil {
				break
			}
			rest = rest[i+1:]
		}
		msg = strings.TrimSpace(rest)
	}
	return errors.New(msg)
}

// run executes the template with data and returns what it wrote.
func (t *tmpl) run(data map[string]any) (string, error) {
	if t.fixed {
		return t.text, nil
	}
	w := cappedWriter{max: MaxOutput}
	if err := t.t.Execute(&w, data); err != nil {
		if errors.Is(err, errTooLong) {
			return "", fmt.Errorf("template wrote more than %d bytes", MaxOutput)
		}
		return "", cleanTemplateError(err)
	}
	return w.b.String(), nil
}

var errTooLong = errors.New("output too long")

// cappedWriter keeps what is written up to max bytes and refuses more.
type cappedWriter struct {
	b   strings.Builder
	max int
}

// Write keeps p, or refuses it all if it would pass max.
func (w *cappedWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > w.max {
		return 0, errTooLong
	}
	return w.b.Write(p)
}

// FuncNames lists the functions scene templates may call (README "Your
// own scenes" describes each): a few of text/template's own (and, or,
// not, len, index, slice, print), comparisons that work between any
// numbers, printf with bounded widths, arithmetic, text, time and colour.
func FuncNames() []string {
	return []string{
		"and", "or", "not", "len", "index", "slice", "print",
		"eq", "ne", "lt", "le", "gt", "ge",
		"printf", "fixed", "num", "default",
		"add", "sub", "mul", "div", "mod", "min", "max", "abs", "round", "floor", "ceil", "clamp",
		"upper", "lower", "trim",
		"time", "until", "duration",
		"rgb", "mix",
	}
}

// funcs are the functions of scene templates that replace or add to
// text/template's.
func funcs() template.FuncMap {
	return template.FuncMap{
		"eq": func(a any, bs ...any) (bool, error) {
			if len(bs) == 0 {
				return false, errors.New("eq needs at least two arguments")
			}
			for _, b := range bs {
				if equal(a, b) {
					return true, nil
				}
			}
			return false, nil
		},
		"ne": func(a, b any) bool { return !equal(a, b) },
		"lt": func(a, b any) (bool, error) { return order(a, b, func(c int) bool { return c < 0 }) },
		"le": func(a, b any) (bool, error) { return order(a, b, func(c int) bool { return c <= 0 }) },
		"gt": func(a, b any) (bool, error) { return order(a, b, func(c int) bool { return c > 0 }) },
		"ge": func(a, b any) (bool, error) { return order(a, b, func(c int) bool { return c >= 0 }) },

		"printf":  printf,
		"fixed":   fixed,
		"num":     num,
		"default": func(def, v any) any { return orDefault(v, def) },

		"add":   arith("add", func(a, b float64) float64 { return a + b }),
		"sub":   arith("sub", func(a, b float64) float64 { return a - b }),
		"mul":   arith("mul", func(a, b float64) float64 { return a * b }),
		"div":   divide,
		"mod":   modulo,
		"min":   arith("min", math.Min),
		"max":   arith("max", math.Max),
		"abs":   unary("abs", math.Abs),
		"round": unary("round", math.Round),
		"floor": unary("floor", math.Floor),
		"ceil":  unary("ceil", math.Ceil),
		"clamp": clamp,

		"upper": func(v any) string { return strings.ToUpper(text(v)) },
		"lower": func(v any) string { return strings.ToLower(text(v)) },
		"trim":  func(v any) string { return strings.TrimSpace(text(v)) },

		"time":     func(format string, t time.Time) string { return strftime(format, t) },
		"until":    until,
		"duration": duration,

		"rgb": rgb,
		"mix": mix,

		// Refused when the file is read; defined here so that no built-in
		// version can run.
		"call":     refused("call"),
		"html":     refused("html"),
		"js":       refused("js"),
		"urlquery": refused("urlquery"),
		"println":  refused("println"),
	}
}

func refused(name string) func(...any) (string, error) {
	return func(...any) (string, error) { return "", fmt.Errorf("%s is not available", name) }
}

// number returns v as a float64 if it is a Go number (a template literal,
// a numeric input or parameter).
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int8:
		return float64(n), true
	case int16:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint:
		return float64(n), true
	case uint8:
		return float64(n), true
	case uint16:
		return float64(n), true
	case uint32:
		return float64(n), true
	case uint64:
		return float64(n), true
	}
	return 0, false
}

func isMissing(v any) bool {
	_, ok := v.(missing)
	return ok
}

// equal compares numbers as numbers (1000 equals 1000.0), a missing value
// as "-", and anything else as Go does when the types match.
func equal(a, b any) bool {
	if isMissing(a) {
		a = Missing
	}
	if isMissing(b) {
		b = Missing
	}
	x, xok := number(a)
	y, yok := number(b)
	switch {
	case xok && yok:
		return x == y
	case xok || yok:
		return false
	}
	switch a := a.(type) {
	case string:
		b, ok := b.(string)
		return ok && a == b
	case bool:
		b, ok := b.(bool)
		return ok && a == b
	}
	return false
}

// order compares numbers as numbers and strings as strings; a missing
// value, or a number against a string, is false (not an error), so a
// dashboard without data yet draws its "no data" branch.
func order(a, b any, ok func(int) bool) (bool, error) {
	if isMissing(a) || isMissing(b) {
		return false, nil
	}
	x, xok := number(a)
	y, yok := number(b)
	switch {
	case xok && yok:
		return ok(cmpFloat(x, y)), nil
	case xok || yok:
		return false, nil
	}
	s, sok := a.(string)
	t, tok := b.(string)
	if sok && tok {
		return ok(strings.Compare(s, t)), nil
	}
	return false, fmt.Errorf("cannot compare %T with %T", a, b)
}

func cmpFloat(x, y float64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// operand reads an arithmetic operand: a number, or a string holding one.
func operand(fn string, v any) (float64, error) {
	if n, ok := number(v); ok {
		return n, nil
	}
	if s, ok := v.(string); ok {
		if n, ok := parseNumber(s); ok {
			return n, nil
		}
	}
	return 0, fmt.Errorf("%s: %q is not a number", fn, text(v))
}

// arith is a function of two or more numbers folded left to right; a
// missing value gives a missing result.
func arith(name string, f func(a, b float64) float64) func(a any, bs ...any) (any, error) {
	return func(a any, bs ...any) (any, error) {
		if len(bs) == 0 {
			return nil, fmt.Errorf("%s needs at least two arguments", name)
		}
		if isMissing(a) || slices.ContainsFunc(bs, isMissing) {
			return missing{}, nil
		}
		x, err := operand(name, a)
		if err != nil {
			return nil, err
		}
		for _, b := range bs {
			y, err := operand(name, b)
			if err != nil {
				return nil, err
			}
			x = f(x, y)
		}
		return x, nil
	}
}

func unary(name string, f func(float64) float64) func(any) (any, error) {
	return func(a any) (any, error) {
		if isMissing(a) {
			return missing{}, nil
		}
		x, err := operand(name, a)
		if err != nil {
			return nil, err
		}
		return f(x), nil
	}
}

func divide(a, b any) (any, error) {
	if isMissing(a) || isMissing(b) {
		return missing{}, nil
	}
	x, err := operand("div", a)
	if err != nil {
		return nil, err
	}
	y, err := operand("div", b)
	if err != nil {
		return nil, err
	}
	if y == 0 {
		return nil, errors.New("div: division by zero")
	}
	return x / y, nil
}

func modulo(a, b any) (any, error) {
	if isMissing(a) || isMissing(b) {
		return missing{}, nil
	}
	x, err := operand("mod", a)
	if err != nil {
		return nil, err
	}
	y, err := operand("mod", b)
	if err != nil {
		return nil, err
	}
	if y == 0 {
		return nil, errors.New("mod: division by zero")
	}
	return math.Mod(x, y), nil
}

// clamp limits v to lo..hi.
func clamp(lo, hi, v any) (any, error) {
	if isMissing(v) {
		return missing{}, nil
	}
	l, err := operand("clamp", lo)
	if err != nil {
		return nil, err
	}
	h, err := operand("clamp", hi)
	if err != nil {
		return nil, err
	}
	x, err := operand("clamp", v)
	if err != nil {
		return nil, err
	}
	return math.Max(l, math.Min(h, x)), nil
}

// num reads a number from a string ("21.5"); a number stays as it is.
func num(v any) (any, error) {
	if isMissing(v) {
		return missing{}, nil
	}
	return operand("num", v)
}

// fixed formats a number with digits decimals: fixed 1 21.456 is "21.5".
func fixed(digits int, v any) (string, error) {
	if isMissing(v) {
		return Missing, nil
	}
	if digits < 0 || digits > 10 {
		return "", fmt.Errorf("fixed: %d decimals; from 0 to 10", digits)
	}
	x, err := operand("fixed", v)
	if err != nil {
		return "", err
	}
	return strconv.FormatFloat(x, 'f', digits, 64), nil
}

// orDefault is v, or def when v is missing or empty.
func orDefault(v, def any) any {
	if v == nil || isMissing(v) {
		return def
	}
	if s, ok := v.(string); ok && s == "" {
		return def
	}
	return v
}

// printf is fmt.Sprintf with bounded widths; with a missing value it
// gives "-".
func printf(format string, args ...any) (string, error) {
	if slices.ContainsFunc(args, isMissing) {
		return Missing, nil
	}
	if err := checkFormat(format); err != nil {
		return "", err
	}
	return fmt.Sprintf(format, args...), nil
}

// checkFormat refuses printf verbs with a width or precision over
// maxWidth, or taken from the arguments (*) or with argument indexes.
func checkFormat(format string) error {
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		i++
		for i < len(format) && strings.IndexByte("+-# 0", format[i]) >= 0 {
			i++
		}
		for part := 0; part < 2; part++ {
			start := i
			for i < len(format) && format[i] >= '0' && format[i] <= '9' {
				i++
			}
			if i-start > 2 {
				return fmt.Errorf("printf: width or precision over %d", maxWidth)
			}
			if n, _ := strconv.Atoi(format[start:i]); n > maxWidth {
				return fmt.Errorf("printf: width or precision over %d", maxWidth)
			}
			if i < len(format) && (format[i] == '*' || format[i] == '[') {
				return errors.New("printf: * and [n] are not available")
			}
			if part == 0 && i < len(format) && format[i] == '.' {
				i++
				continue
			}
			break
		}
	}
	return nil
}

// text is how a value prints.
func text(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case fmt.Stringer:
		return v.String()
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// rgb makes a colour "#rrggbb" of three numbers from 0 to 255 (clamped).
func rgb(r, g, b any) (string, error) {
	var c [3]uint8
	for i, v := range []any{r, g, b} {
		x, err := operand("rgb", v)
		if err != nil {
			return "", err
		}
		c[i] = uint8(math.Round(math.Max(0, math.Min(255, x))))
	}
	return fmt.Sprintf("#%02x%02x%02x", c[0], c[1], c[2]), nil
}

// mix blends two colours: t 0 is a, 1 is b (clamped); a missing t is a.
func mix(a, b string, t any) (string, error) {
	ca, err := parseColorText(a)
	if err != nil {
		return "", fmt.Errorf("mix: %w", err)
	}
	cb, err := parseColorText(b)
	if err != nil {
		return "", fmt.Errorf("mix: %w", err)
	}
	f := 0.0
	if !isMissing(t) {
		if f, err = operand("mix", t); err != nil {
			return "", err
		}
	}
	f = math.Max(0, math.Min(1, f))
	lerp := func(x, y uint8) float64 { return float64(x) + (float64(y)-float64(x))*f }
	return rgb(lerp(ca.R, cb.R), lerp(ca.G, cb.G), lerp(ca.B, cb.B))
}

// until is the number of seconds from now to target (negative once it
// passed): target is RFC 3339, or "2006-01-02 15:04[:05]" or "2006-01-02"
// in now's time zone.
func until(target any, now time.Time) (any, error) {
	if isMissing(target) {
		return missing{}, nil
	}
	s := strings.TrimSpace(text(target))
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.Sub(now).Seconds(), nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, now.Location()); err == nil {
			return t.Sub(now).Seconds(), nil
		}
	}
	return nil, fmt.Errorf("until: %q is not a time (2006-01-02 15:04, or RFC 3339)", s)
}

// duration formats seconds as "2d 03:04:05", "03:04:05" or "04:05"
// (rounded down; a negative duration is 00:00).
func duration(secs any) (string, error) {
	if isMissing(secs) {
		return Missing, nil
	}
	x, err := operand("duration", secs)
	if err != nil {
		return "", err
	}
	n := int64(math.Max(0, math.Min(x, 1e12)))
	d, h, m, sec := n/86400, n/3600%24, n/60%60, n%60
	switch {
	case d > 0:
		return fmt.Sprintf("%dd %02d:%02d:%02d", d, h, m, sec), nil
	case h > 0:
		return fmt.Sprintf("%02d:%02d:%02d", h, m, sec), nil
	}
	return fmt.Sprintf("%02d:%02d", m, sec), nil
}

// strftime formats t with the %-codes of C's strftime that a clock needs:
// %H %I %M %S %p %d %e %m %y %Y %a %A %b %B %j %Z %%; other characters
// are copied.
func strftime(format string, t time.Time) string {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' || i+1 == len(format) {
			b.WriteByte(c)
			continue
		}
		i++
		switch format[i] {
		case 'H':
			fmt.Fprintf(&b, "%02d", t.Hour())
		case 'I':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			fmt.Fprintf(&b, "%02d", h)
		case 'M':
			fmt.Fprintf(&b, "%02d", t.Minute())
		case 'S':
			fmt.Fprintf(&b, "%02d", t.Second())
		case 'p':
			if t.Hour() < 12 {
				b.WriteString("AM")
			} else {
				b.WriteString("PM")
			}
		case 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case 'e':
			fmt.Fprintf(&b, "%d", t.Day())
		case 'm':
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case 'y':
			fmt.Fprintf(&b, "%02d", t.Year()%100)
		case 'Y':
			fmt.Fprintf(&b, "%d", t.Year())
		case 'a':
			b.WriteString(t.Weekday().String()[:3])
		case 'A':
			b.WriteString(t.Weekday().String())
		case 'b':
			b.WriteString(t.Month().String()[:3])
		case 'B':
			b.WriteString(t.Month().String())
		case 'j':
			fmt.Fprintf(&b, "%03d", t.YearDay())
		case 'Z':
			name, _ := t.Zone()
			b.WriteString(name)
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(format[i])
		}
	}
	return b.String()
}
