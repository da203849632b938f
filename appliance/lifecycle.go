package appliance

// nextStates is the lifecycle; it lives here and only here.
//
//	discovered -> ready                       ingest
//	ready -> allocated -> installing -> deployed
//	deployed -> recycling -> ready
//	any -> broken                             a failed job, with its reason
//	broken -> recycling | ready               a technician
//	any <-> frozen                            a technician; unfreeze returns
//	                                          to the state before the freeze
//
// It lists the legal moves out of each state, other than to broken and
// frozen, which are legal from everywhere.
func nextStates(from State) []State {
	switch from {
	case StateDiscovered:
		return []State{StateReady}
	case StateReady:
		return []State{StateAllocated, StateInstalling, StateRecycling}
	case StateAllocated:
		return []State{StateInstalling, StateReady, StateRecycling}
	case StateInstalling:
		return []State{StateDeployed, StateRecycling}
	case StateDeployed:
		return []State{StateInstalling, StateRecycling}
	case StateRecycling:
		return []State{StateReady}
	case StateBroken:
		return []State{StateRecycling, StateReady}
	}
	return nil
}

// CheckTransition says whether a machine in from (frozen from frozenFrom,
// if frozen) may move to to. The error says why not.
func CheckTransition(from, frozenFrom, to State) error {
	if !to.Valid() {
		return Errorf(CodeInvalid, "unknown state %q", to)
	}
	if !from.Valid() {
		return Errorf(CodeInvalid, "machine is in unknown state %q", from)
	}
	if from == to {
		return Errorf(CodeConflict, "machine is already %s", to)
	}
	if from == StateFrozen {
		if to != frozenFrom {
			return Errorf(CodeConflict, "machine is frozen; unfreeze returns it to %s, not %s", frozenFrom, to)
		}
		return nil
	}
	if to == StateFrozen || to == StateBroken {
		return nil
	}
	if to == StateDiscovered {
		return Errorf(CodeConflict, "a machine cannot return to discovered")
	}
	for _, s := range nextStates(from) {
		if s == to {
			return nil
		}
	}
	return Errorf(CodeConflict, "%s machine cannot become %s (allowed: %v)", from, to, allowed(from))
}

func allowed(from State) []State {
	return append(nextStates(from), StateBroken, StateFrozen)
}
