package importer_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/gridhub/gridhub/city"
	"github.com/gridhub/gridhub/importer"
	"github.com/gridhub/gridhub/privacy"
	"github.com/gridhub/gridhub/store/boltstore"
)

func ExampleImport() {
	dir, err := os.MkdirTemp("", "gridhub-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	st, err := boltstore.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	hasher, err := privacy.NewHasher([]byte("example-key-0123456789"))
	if err != nil {
		log.Fatal(err)
	}
	svc, err := city.New(context.Background(), st, hasher, city.Options{})
	if err != nil {
		log.Fatal(err)
	}

	file := `id,name,lat,lng,hours,stock_MASK_ADULT
p-1,Kang-Ning Pharmacy,25.0478,121.5170,NNNNNNNNNNNNNNNNNNNNY,200
p-2,Ren-Ai Pharmacy,25.0401,121.5201,,-5
p-3,Boai Pharmacy,north,121.5201,,100
`
	rep, err := importer.Import(context.Background(), svc, importer.Pharmacies, importer.CSV, strings.NewReader(file), importer.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("read %d, imported %d\n", rep.Read, rep.Imported)
	for _, b := range rep.Bad {
		fmt.Println(b)
	}
	// Output:
	// read 3, imported 1
	// line 3 (id "p-2"): stock of MASK_ADULT is negative
	// line 4 (id "p-3"): lat "north" is not a number
}
