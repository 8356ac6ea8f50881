package importer_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/gridhub/gridhub/importer"
	"github.com/gridhub/gridhub/internal/citytest"
)

func ExampleImport() {
	svc, done, err := citytest.Open(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	defer done()

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
