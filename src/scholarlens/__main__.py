from scholarlens.serve.cli import app

app(prog_name="scholarlens")
