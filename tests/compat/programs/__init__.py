"""Public restate-sdk programs, rewritten, one module per program.

Each module keeps the restate API use of the program it cites (imports, ctx
calls, serdes, combinators, service kinds, options); stand-ins replace the
outside services (LLMs, payment providers, HTTP APIs). The cited programs are
published under the MIT licence by Restate (restatedev) on GitHub.
"""
