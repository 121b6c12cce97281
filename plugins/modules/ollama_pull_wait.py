#!/usr/bin/python
# Copyright: contributors to llmstack.gateway
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This is a documentation stub: the work is done by the action plugin of the same name, on the controller.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ollama_pull_wait
short_description: Wait for async ollama_model pulls and print their progress
version_added: 0.1.0
description:
  - Polls each M(llmstack.gateway.ollama_model) job started with C(async) and C(poll=0) through
    C(async_status), every O(delay) seconds, until all have finished or O(retries) polls are spent.
  - "At each poll it reads the job's O(jobs[].progress_file) (written by the module from Ollama's pull
    stream) and prints one line per model still pulling, for example
    C(tinyllama: 312.4 MiB of 608.2 MiB, 41.2 MiB/s, ETA 7 s). The rate is the change since the previous
    poll; the ETA assumes it holds."
  - A model that needed no pull writes no progress file and prints nothing.
author:
  - llmstack.gateway maintainers (@llmstack)
extends_documentation_fragment:
  - llmstack.gateway.attributes
attributes:
  action:
    description: Indicates this has a corresponding action plugin, run on the controller.
    support: full
  check_mode:
    support: full
    details:
      - It only reads; the jobs it waits for follow check mode themselves.
  diff_mode:
    support: none
options:
  jobs:
    description: The jobs to wait for.
    type: list
    elements: dict
    required: true
    suboptions:
      model:
        description: The model the job pulls, as the progress lines and results name it.
        type: str
        required: true
      jid:
        description: The job's C(ansible_job_id).
        type: str
        required: true
      progress_file:
        description: The O(llmstack.gateway.ollama_model#module:progress_file) the job was given.
        type: path
  delay:
    description: Seconds between polls.
    type: int
    default: 5
  retries:
    description: Polls after the first before a job that has not finished is reported as failed.
    type: int
    required: true
seealso:
  - module: llmstack.gateway.ollama_model
"""

EXAMPLES = r"""
- name: Start pulling two models at once
  llmstack.gateway.ollama_model:
    name: "{{ item }}"
    progress_file: "/root/pull-{{ index }}.json"
  loop: [tinyllama, qwen2.5:0.5b]
  loop_control:
    index_var: index
  async: 3600
  poll: 0
  register: started

- name: Wait for them, printing progress every 5 seconds for up to an hour
  llmstack.gateway.ollama_pull_wait:
    jobs:
      - model: tinyllama
        jid: "{{ started.results[0].ansible_job_id }}"
        progress_file: /root/pull-0.json
      - model: qwen2.5:0.5b
        jid: "{{ started.results[1].ansible_job_id }}"
        progress_file: /root/pull-1.json
    delay: 5
    retries: 720
"""

RETURN = r"""
results:
  description: One result per job, in the order of O(jobs), as M(llmstack.gateway.ollama_model) returned
    it, with C(item) set to the model.
  returned: always
  type: list
  elements: dict
progress:
  description: The progress lines printed, in order.
  returned: always
  type: list
  elements: str
  sample: ["tinyllama: 312.4 MiB of 637.0 MiB, 41.2 MiB/s, ETA 8 s"]
"""
