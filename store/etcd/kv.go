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

// PutAll makes every write or none in one transaction: it compares
// every write's condition and, if one fails, reads those keys back
// instead (in the same request) to name the one that failed.
func (s *Store) PutAll(ctx context.Context, writes []cluster.Write) (int64, error) {
	if err := cluster.CheckWrites(writes); err != nil {
		return 0, err
	}
	op := "put all"
	if err := s.begin(ctx, op); err != nil {
		return 0, err
	}
	var (
		cmps        []clientv3.Cmp
		puts, reads []clientv3.Op
		checked     []cluster.Write
	)
	for _, w := range writes {
		var popts []clientv3.OpOption
		if w.Options.Lease != cluster.NoLease {
			popts = append(popts, clientv3.WithLease(clientv3.LeaseID(w.Options.Lease)))
		}
		puts = append(puts, clientv3.OpPut(w.Key, string(w.Value), popts...))
		switch {
		case w.Options.Create:
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(w.Key), "=", 0))
		case w.Options.PrevRevision > 0:
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(w.Key), "=", w.Options.PrevRevision))
		default:
			continue
		}
		reads = append(reads, clientv3.OpGet(w.Key, clientv3.WithKeysOnly()))
		checked = append(checked, w)
	}
	resp, err := s.kv.Txn(ctx).If(cmps...).Then(puts...).Else(reads...).Commit()
	if err != nil {
		return 0, classify(ctx, op, err)
	}
	if resp.Succeeded {
		return resp.Header.Revision, nil
	}
	for i, w := range checked {
		var modRev int64
		if kvs := resp.Responses[i].GetResponseRange().GetKvs(); len(kvs) > 0 {
			modRev = kvs[0].ModRevision
		}
		switch o := w.Options; {
		case o.Create && modRev != 0:
			return 0, &cluster.KeyConflict{Key: w.Key, Err: cnm.Conflict("put %s: key exists", w.Key)}
		case o.PrevRevision > 0 && modRev != o.PrevRevision:
			return 0, &cluster.KeyConflict{Key: w.Key, Err: cnm.Conflict("put %s: key is not at revision %d", w.Key, o.PrevRevision)}
		}
	}
	// Not reached: the reads see the revision the compares saw.
	w := checked[0]
	return 0, &cluster.KeyConflict{Key: w.Key, Err: cnm.Conflict("put %s: condition failed", w.Key)}
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
