package modelreg_test

import (
	"context"
	"fmt"
	"slices"

	"github.com/modelreg/modelreg"
	"github.com/modelreg/modelreg/definition"
)

func Example() {
	reg := modelreg.New()
	ctx := modelreg.WithTenant(context.Background(), "acme")

	customer, err := reg.DefineJSON(ctx, []byte(`{
		"name": "Customer", "strict": true,
		"properties": {
			"name":    {"type": "string", "required": true},
			"address": {"street": "string", "city": "string"},
			"orders":  [{"sku": "string", "qty": "number"}],
			"owner":   "User"
		}}`))
	if err != nil {
		panic(err)
	}
	fmt.Println(customer.Name(), customer.Tenant(), customer.Refs())

	// Nested objects are anonymous models, shared by structure.
	supplier, _ := reg.DefineJSON(ctx, []byte(`{"name": "Supplier",
		"properties": {"address": {"city": "String", "street": "String"}}}`))
	fmt.Println(supplier.Nested()[0] == customer.Nested()[0])

	// Lookups by name and by structure, within the tenant only.
	m, ok := reg.FindByName(ctx, "Customer")
	fmt.Println(m == customer, ok)
	query, _ := definition.ParseProperties([]byte(`{"city": "string", "street": "string"}`), definition.Limits{})
	addr, ok := reg.FindByStructure(ctx, query)
	fmt.Println(addr.Anonymous(), ok)
	_, ok = reg.FindByName(context.Background(), "Customer")
	fmt.Println("visible without the tenant:", ok)

	// Cleaning the tenant up removes everything it registered.
	rep, _ := reg.CleanupTenant(context.Background(), "acme")
	slices.Sort(rep.CleanedModels)
	fmt.Println(rep.ModelsRemoved, rep.CleanedModels)
	// Output:
	// Customer acme [User]
	// true
	// true true
	// true true
	// visible without the tenant: false
	// 4 [Customer Supplier]
}
