package bench

import "strconv"

// addressFields are the fields of the shared nested object, all strings;
// model m lists them starting at position m mod 4 (WORKLOAD.md §2).
var addressFields = [4]string{"street", "city", "zip", "country"}

// Names that the workload uses.
const (
	missName      = "NoSuchModel"
	anonPrefix    = "AnonymousModel_"
	modelInfix    = "_Model"
	missStructure = `{"zz_nomatch_a":"string","zz_nomatch_b":"number"}`
	itemStructure = `{"sku":"string","qty":"number","price":"number"}`
)

// TenantCode returns the tenant code prefix+decimal(i), e.g. "tenant_17".
func TenantCode(prefix string, i int) string {
	return prefix + strconv.Itoa(i)
}

// ModelName returns the name of model m of tenant code: "<code>_Model<m>".
func ModelName(code string, m int) string {
	return code + modelInfix + strconv.Itoa(m)
}

// AppendModelJSON appends the JSON definition of model m of tenant code
// (WORKLOAD.md §2) to dst, with the properties in the recipe's order:
//
//	{"name":"<code>_Model<m>","properties":{"name":"string","qty":"number",
//	 "active":"boolean","createdAt":"date",
//	 "address":{<street, city, zip, country rotated by m mod 4>: "string"},
//	 "detail":{"m<m>_key":"string","m<m>_val":"number"},
//	 "items":[{"sku":"string","qty":"number","price":"number"}]}}
func AppendModelJSON(dst []byte, code string, m int) []byte {
	dst = append(dst, `{"name":"`...)
	dst = append(dst, code...)
	dst = append(dst, modelInfix...)
	dst = strconv.AppendInt(dst, int64(m), 10)
	dst = append(dst, `","properties":{"name":"string","qty":"number","active":"boolean","createdAt":"date","address":`...)
	dst = appendAddress(dst, m)
	dst = append(dst, `,"detail":`...)
	dst = appendDetail(dst, m)
	dst = append(dst, `,"items":[`...)
	dst = append(dst, itemStructure...)
	dst = append(dst, `]}}`...)
	return dst
}

// ModelJSON returns a fresh slice holding AppendModelJSON(nil, code, m).
func ModelJSON(code string, m int) []byte {
	return AppendModelJSON(make([]byte, 0, 320+2*len(code)), code, m)
}

// appendAddress appends the address structure with rotation r mod 4.
func appendAddress(dst []byte, r int) []byte {
	dst = append(dst, '{')
	for i := range 4 {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, addressFields[(r+i)%4]...)
		dst = append(dst, `":"string"`...)
	}
	return append(dst, '}')
}

// appendDetail appends the detail structure of model m.
func appendDetail(dst []byte, m int) []byte {
	dst = append(dst, `{"m`...)
	dst = strconv.AppendInt(dst, int64(m), 10)
	dst = append(dst, `_key":"string","m`...)
	dst = strconv.AppendInt(dst, int64(m), 10)
	return append(dst, `_val":"number"}`...)
}

// QueryJSON returns the properties JSON of query structure Q[k], k in
// 0..2M (WORKLOAD.md §4.2): the address with rotation k for k < M, the
// detail of model k−M for M ≤ k < 2M, and the items element for k = 2M.
func QueryJSON(k, m int) []byte {
	switch {
	case k < m:
		return appendAddress(nil, k)
	case k < 2*m:
		return appendDetail(nil, k-m)
	default:
		return []byte(itemStructure)
	}
}

// Expected per-tenant counts of the recipe (WORKLOAD.md §2).

// ExpectedAnonCreated is the number of anonymous models a tenant of m
// models creates: one address, one item and m details.
func ExpectedAnonCreated(m int) int { return m + 2 }

// ExpectedAnonReused is the number of nested occurrences that reuse an
// anonymous model: 3m occurrences minus the m+2 that created one.
func ExpectedAnonReused(m int) int { return 2*m - 2 }

// ExpectedEntries is the number of registry entries of a tenant of m
// models: m named models and m+2 anonymous ones.
func ExpectedEntries(m int) int { return 2*m + 2 }
