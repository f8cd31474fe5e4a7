package etcd_test

import (
	"fmt"
	"testing"

	"github.com/patchbay/patchbay/internal/etcdtest"
	"github.com/patchbay/patchbay/store/cluster"
)

// BenchmarkPutAll times what an overlay attach asks of etcd: one
// transaction creating an address claim and writing an endpoint record,
// both under a lease, against a real etcd server in this process.
func BenchmarkPutAll(b *testing.B) {
	srv := etcdtest.Start(b, etcdtest.Options{})
	s := open(b, srv, "/bench/")
	l, err := s.Grant(b.Context(), 60e9)
	if err != nil {
		b.Fatal(err)
	}
	rec := make([]byte, 300)
	b.ResetTimer()
	for i := range b.N {
		_, err := s.PutAll(b.Context(), []cluster.Write{
			{Key: fmt.Sprintf("/addrs/n/%d", i), Value: []byte("h1"), Options: cluster.PutOptions{Create: true, Lease: l}},
			{Key: fmt.Sprintf("/endpoints/n/%d", i), Value: rec, Options: cluster.PutOptions{Lease: l}},
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
