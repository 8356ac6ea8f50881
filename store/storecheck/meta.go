package storecheck

import (
	"strings"
	"unicode/utf8"

	"github.com/gridhub/gridhub/hub"
)

// MetaKey returns an EINVALID error unless key can name a setting
// (hub.Store.Meta): not empty, at most hub.MaxMetaKey bytes, free of NUL
// bytes.
func MetaKey(key string) error {
	switch {
	case key == "":
		return hub.Errorf(hub.EINVALID, "setting name is empty")
	case len(key) > hub.MaxMetaKey:
		return hub.Errorf(hub.EINVALID, "setting name is longer than %d bytes", hub.MaxMetaKey)
	case strings.IndexByte(key, 0) >= 0:
		return hub.Errorf(hub.EINVALID, "setting name %q contains a NUL byte", key)
	}
	return nil
}

// SwapMeta returns an EINVALID error unless hub.Store.SwapMeta may set key
// from old to value: a valid key, a value that is not empty and is UTF-8
// text, and values of at most hub.MaxMetaValue bytes.
func SwapMeta(key, old, value string) error {
	if err := MetaKey(key); err != nil {
		return err
	}
	switch {
	case value == "":
		return hub.Errorf(hub.EINVALID, "setting %s: the new value is empty", key)
	case len(value) > hub.MaxMetaValue || len(old) > hub.MaxMetaValue:
		return hub.Errorf(hub.EINVALID, "setting %s: a value is longer than %d bytes", key, hub.MaxMetaValue)
	case !utf8.ValidString(value):
		return hub.Errorf(hub.EINVALID, "setting %s: the new value is not UTF-8 text", key)
	}
	return nil
}
