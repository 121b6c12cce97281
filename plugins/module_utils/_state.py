# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils is PRIVATE to this collection. It can change or be removed at any time.

"""The read -> compare -> check/diff -> write cycle of a module that manages one thing.

Every such module must get the same things right: write only when something differs, write nothing
in check mode yet predict the change truthfully, show before and after in diff mode, and report
what was reached. StateModule does that once; a module says how to read, what it wants, how to
compare and how to write.
"""

from __future__ import annotations


class _Unknown:
    """What compare() answers when only writing can tell (a registry may or may not have a newer build)."""

    def __repr__(self):
        return "UNKNOWN"

    def __bool__(self):
        raise TypeError("UNKNOWN is neither a change nor no change; test it with `is UNKNOWN`.")


UNKNOWN = _Unknown()


class StateModule:
    """Base of the collection's state modules; run() drives the hooks below and exits the module.

    Hooks, in the order run() calls them:
      read()                  the state there now (any value the other hooks understand)
      desired(before)         the state this task leads to, as far as it can be known without writing
      compare(before, after)  True (a change), False (nothing to do) or UNKNOWN (only a write can tell)
      write(before, after)    make the change; return the state really reached (never in check mode)
      report(before, after)   return values describing the state reached (or predicted in check mode)
      follow_up(after, changed)  a second, smaller step that sees the result (honouring check mode
                              itself); returns changed
      diff_view(state)        what diff mode shows of a state

    A planned change is reported as changed before write() runs, so a write that fails half-way does
    not claim that nothing happened. When compare() is UNKNOWN, check mode calls cannot_tell() (a
    warning) and reports the state as it is; a real run writes, then compares with what it reached.
    """

    # Exceptions that fail the module with their message and the return values gathered so far.
    errors = ()
    # Title of both sides of the diff.
    diff_header = None

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.result = {"changed": False}

    @property
    def check_mode(self):
        return self.module.check_mode

    def fail(self, msg):
        self.module.fail_json(msg=msg, **self.result)

    def read(self):
        raise NotImplementedError

    def desired(self, before):
        raise NotImplementedError

    def compare(self, before, after):
        return before != after

    def write(self, before, after):
        raise NotImplementedError

    def report(self, before, after):
        return {}

    def follow_up(self, after, changed):
        return changed

    def diff_view(self, state):
        return state

    def cannot_tell(self, before):
        """Check mode met an UNKNOWN comparison: it reports no change, and says why."""
        self.module.warn("Check mode cannot tell whether this task would change anything; reporting no change.")

    def run(self):
        try:
            before = self.read()
            after = self.desired(before)
            decision = self.compare(before, after)
            if decision is UNKNOWN and self.check_mode:
                self.cannot_tell(before)
                after, decision = before, False
            changed = self.result["changed"] = decision is True
            if decision is not False and not self.check_mode:
                after = self.write(before, after)
                if decision is UNKNOWN:
                    changed = self.result["changed"] = bool(self.compare(before, after))
            self.result.update(self.report(before, after))
            changed = self.result["changed"] = self.follow_up(after, changed)
        except self.errors as exc:
            self.fail(str(exc))
        else:
            if self.module._diff:
                self.result["diff"] = {
                    "before": self.diff_view(before),
                    "after": self.diff_view(after),
                    "before_header": self.diff_header,
                    "after_header": self.diff_header,
                }
            self.module.exit_json(**self.result)
