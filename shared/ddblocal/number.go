package ddblocal

import (
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

// DynamoDB (and dynalite) refuse a leading "+" and surrounding spaces.
var numberRE = regexp.MustCompile(`^(-?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$`)

// normalizeNumber returns DynamoDB's canonical form of a number (no exponent, no leading
// or trailing zeros), refusing what DynamoDB refuses: more than 38 significant digits and
// magnitudes outside 1E-130 .. 1E+126.
func normalizeNumber(s string) (string, error) {
	m := numberRE.FindStringSubmatch(s)
	if m == nil || m[2]+m[3] == "" {
		return "", validation("The parameter cannot be converted to a numeric value: %s", s)
	}
	exp := 0
	if m[4] != "" {
		e, err := strconv.Atoi(m[4])
		if err != nil || e > 1000 || e < -1000 {
			return "", validation("The parameter cannot be converted to a numeric value: %s", s)
		}
		exp = e
	}
	digits := strings.TrimLeft(m[2]+m[3], "0")
	exp -= len(m[3])
	if digits == "" {
		return "0", nil
	}
	for strings.HasSuffix(digits, "0") {
		digits = digits[:len(digits)-1]
		exp++
	}
	if len(digits) > 38 {
		return "", validation("Attempting to store more than 38 significant digits in a Number")
	}
	adjusted := len(digits) - 1 + exp
	if adjusted > 125 {
		return "", validation("Number overflow. Attempting to store a number with magnitude larger than supported range")
	}
	if adjusted < -130 {
		return "", validation("Number underflow. Attempting to store a number with magnitude smaller than supported range")
	}
	var out string
	switch {
	case exp >= 0:
		out = digits + strings.Repeat("0", exp)
	case len(digits) > -exp:
		out = digits[:len(digits)+exp] + "." + digits[len(digits)+exp:]
	default:
		out = "0." + strings.Repeat("0", -exp-len(digits)) + digits
	}
	if m[1] == "-" {
		out = "-" + out
	}
	return out, nil
}

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return new(big.Rat)
	}
	return r
}

// compareNumbers orders two canonical numbers.
func compareNumbers(a, b string) int {
	if a == b {
		return 0
	}
	return rat(a).Cmp(rat(b))
}

func fracDigits(s string) int {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return len(s) - i - 1
	}
	return 0
}

// addNumbers returns a+b (or a-b) in canonical form.
func addNumbers(a, b string, subtract bool) (string, error) {
	x, y := rat(a), rat(b)
	if subtract {
		y.Neg(y)
	}
	sum := new(big.Rat).Add(x, y)
	return normalizeNumber(sum.FloatString(max(fracDigits(a), fracDigits(b))))
}
