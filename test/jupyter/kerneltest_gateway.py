"""Jupyter's kernel conformance suite (jupyter_kernel_test) against PyREPL3 kernels.

The suite starts kernels with jupyter_client's local manager; here it goes through a gateway, as
JupyterLab and nbclient do: jupyter_server's GatewayKernelManager, configured by
JUPYTER_GATEWAY_URL. The suite expects a blocking client, so the gateway client's async
get_shell_msg is wrapped with run_sync; every message is still checked against the suite's schemas.

Run: JUPYTER_GATEWAY_URL=http://127.0.0.1:PORT/t/TOKEN python3 -m unittest -v kerneltest_gateway
"""

import unittest

import jupyter_kernel_test
from jupyter_client.utils import run_sync
from jupyter_server.gateway.managers import GatewayKernelManager

TIMEOUT = 30


class GatewayKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = "python3"
    language_name = "python"
    file_extension = ".py"

    code_hello_world = "print('hello, world')"
    code_stderr = "import sys; print('test', file=sys.stderr)"
    code_generate_error = "raise ValueError('boom')"
    code_execute_result = [
        {"code": "1+2+3", "result": "6"},
        {"code": "[n * n for n in range(1, 4)]", "result": "[1, 4, 9]"},
    ]
    completion_samples = [{"text": "zi", "matches": {"zip"}}]
    complete_code_samples = ["1", "print('hello, world')", "def f(x):\n  return x*2\n\n\n"]
    incomplete_code_samples = ["print('''hello", "def f(x):\n  x*2\n"]
    invalid_code_samples = ["import = 7q"]
    code_inspect_sample = "zip"
    code_display_data = [
        {"code": "display({'text/html': '<b>test</b>'}, raw=True)", "mime": "text/html"},
        {"code": "class M:\n    def _repr_markdown_(self): return '*x*'\ndisplay(M())", "mime": "text/markdown"},
    ]
    code_clear_output = "clear_output()"
    supported_history_operations = ("tail", "range")

    @classmethod
    def setUpClass(cls):
        cls.km = GatewayKernelManager()
        run_sync(cls.km.start_kernel)(kernel_name=cls.kernel_name)
        cls.kc = cls.km.client()
        run_sync(cls.kc.start_channels)()
        run_sync(cls.kc.wait_for_ready)(timeout=TIMEOUT)
        get_shell_msg = cls.kc.get_shell_msg
        cls.kc.get_shell_msg = lambda *args, **kwargs: run_sync(get_shell_msg)(*args, **kwargs)

    @classmethod
    def tearDownClass(cls):
        cls.kc.stop_channels()
        run_sync(cls.km.shutdown_kernel)()


if __name__ == "__main__":
    unittest.main()
