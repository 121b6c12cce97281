# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # How the Ollama modules reach the server. Set them once for all of them with
    # module_defaults and the group/llmstack.gateway.ollama action group.
    DOCUMENTATION = r"""
options:
  api_url:
    description:
      - Base URL of the Ollama server.
      - Ollama has no authentication; keep it on loopback or behind an authenticating proxy.
    type: str
    default: http://127.0.0.1:11434
  api_key:
    description:
      - Bearer token, for an Ollama that sits behind an authenticating reverse proxy. Plain Ollama ignores it.
    type: str
  validate_certs:
    description:
      - Whether to verify the server's TLS certificate when O(api_url) is C(https://).
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for each API call other than a model pull.
    type: int
    default: 30
"""

    ACTIONGROUP = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/llmstack.gateway.ollama) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - llmstack.gateway.ollama
"""
