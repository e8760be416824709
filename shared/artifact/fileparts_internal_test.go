package artifact

import "testing"

// Files too big for 10,000 parts of the store's size get bigger parts, in whole MiB.
func TestFilePartSize(t *testing.T) {
	const mib = 1 << 20
	cases := []struct {
		name      string
		size      int64
		partSize  int64
		wantPart  int64
		wantParts int64
	}{
		{"one part", 1, DefaultPartSize, DefaultPartSize, 1},
		{"1 GiB in default parts", 1 << 30, DefaultPartSize, DefaultPartSize, 171},
		{"exactly 10,000 parts", maxParts * DefaultPartSize, DefaultPartSize, DefaultPartSize, maxParts},
		{"one byte over 10,000 parts", maxParts*DefaultPartSize + 1, DefaultPartSize, 7 * mib, 8572},
		{"1 TiB", 1 << 40, DefaultPartSize, 105 * mib, 9987},
		{"5 TiB, S3's largest object", 5 << 40, DefaultPartSize, 525 * mib, 9987},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := filePartSize(tc.size, tc.partSize)
			parts := (tc.size + got - 1) / got
			if got != tc.wantPart || parts != tc.wantParts {
				t.Errorf("filePartSize(%d, %d) = %d (%d parts), want %d (%d parts)", tc.size, tc.partSize, got, parts, tc.wantPart, tc.wantParts)
			}
		})
	}
}
