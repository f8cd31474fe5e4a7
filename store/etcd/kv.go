package etcd

import (
	"context"

	"github.com/patchbay/patchbay/cnm"
	"github.com/patchbay/patchbay/store/cluster"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// kvOf converts an etcd key-value.
func kvOf(kv *mvccpb.KeyValue) cluster.KV {
	out := cluster.KV{Key: string(kv.Key), CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision,
		Lease: cluster.LeaseID(kv.Lease)}
	if len(kv.Value) > 0 {
		out.Value = kv.Value
	}
	return out
}

// Get returns the key.
func (s *Store) Get(ctx context.Context, key string) (cluster.KV, error) {
	op := "get " + key
	if err := s.begin(ctx, op); err != nil {
		return cluster.KV{}, err
	}
	resp, err := s.kv.Get(ctx, key)
	if err != nil {
		return cluster.KV{}, classify(ctx, op, err)
	}
	if len(resp.Kvs) == 0 {
		return cluster.KV{}, cnm.NotFound("%s: no such key", op)
	}
	return kvOf(resp.Kvs[0]), nil
}

// List returns the keys under prefix in key order, and the revision they
// were read at.
func (s *Store) List(ctx context.Context, prefix string) ([]cluster.KV, int64, error) {
	op := "list " + prefix
	if err := s.begin(ctx, op); err != nil {
		return nil, 0, err
	}
	resp, err := s.kv.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, 0, classify(ctx, op, err)
	}
	var out []cluster.KV
	for _, kv := range resp.Kvs {
		out = append(out, kvOf(kv))
	}
	return out, resp.Header.Revision, nil
}

// Put writes the key under opts' conditions: one transaction comparing
// the key's ModRevision, or its CreateRevision with 0 for Create.
func (s *Store) Put(ctx context.Context, key string, value []byte, opts cluster.PutOptions) (int64, error) {
	op := "put " + key
	if key == "" || opts.PrevRevision < 0 || (opts.Create && opts.PrevRevision > 0) {
		return 0, cnm.Invalid("%s: empty key, negative revision, or both Create and PrevRevision", op)
	}
	if err := s.begin(ctx, op); err != nil {
		return 0, err
	}
	var popts []clientv3.OpOption
	if opts.Lease != cluster.NoLease {
		popts = append(popts, clientv3.WithLease(clientv3.LeaseID(opts.Lease)))
	}
	var cmp clientv3.Cmp
	switch {
	case opts.Create:
		cmp = clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
	case opts.PrevRevision > 0:
		cmp = clientv3.Compare(clientv3.ModRevision(key), "=", opts.PrevRevision)
	default:
		resp, err := s.kv.Put(ctx, key, string(value), popts...)
		if err != nil {
			return 0, classify(ctx, op, err)
		}
		return resp.Header.Revision, nil
	}
	resp, err := s.kv.Txn(ctx).If(cmp).Then(clientv3.OpPut(key, string(value), popts...)).Commit()
	if err != nil {
		return 0, classify(ctx, op, err)
	}
	if !resp.Succeeded {
		if opts.Create {
			return 0, cnm.Conflict("%s: key exists", op)
		}
		return 0, cnm.Conflict("%s: key is not at revision %d", op, opts.PrevRevision)
	}
	return resp.Header.Revision, nil
}

// Delete removes the key under opts' conditions.
func (s *Store) Delete(ctx context.Context, key string, opts cluster.DeleteOptions) error {
	op := "delete " + key
	if opts.PrevRevision < 0 {
		return cnm.Invalid("%s: negative revision", op)
	}
	if err := s.begin(ctx, op); err != nil {
		return err
	}
	if opts.PrevRevision == 0 {
		resp, err := s.kv.Delete(ctx, key)
		if err != nil {
			return classify(ctx, op, err)
		}
		if resp.Deleted == 0 {
			return cnm.NotFound("%s: no such key", op)
		}
		return nil
	}
	cmp := clientv3.Compare(clientv3.ModRevision(key), "=", opts.PrevRevision)
	resp, err := s.kv.Txn(ctx).If(cmp).Then(clientv3.OpDelete(key)).Commit()
	if err != nil {
		return classify(ctx, op, err)
	}
	if !resp.Succeeded {
		return cnm.Conflict("%s: key is not at revision %d", op, opts.PrevRevision)
	}
	return nil
}
