package engine

import (
	"math/rand/v2"
	"strconv"
)

var (
	adjectives = []string{"brave", "calm", "clever", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry", "nimble", "proud", "quiet", "rapid", "sharp", "swift", "tidy", "vivid", "witty"}
	nouns      = []string{"bell", "cable", "delta", "ether", "frame", "gate", "hub", "link", "mesh", "node", "packet", "port", "relay", "route", "socket", "switch", "trunk", "tunnel", "vlan", "wire"}
)

// randomName returns a Docker-style adjective_noun name, with a numeric
// suffix when long is set (after collisions).
func randomName(long bool) string {
	name := adjectives[rand.IntN(len(adjectives))] + "_" + nouns[rand.IntN(len(nouns))]
	if long {
		name += strconv.Itoa(rand.IntN(10000))
	}
	return name
}
