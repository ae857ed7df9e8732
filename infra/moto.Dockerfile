# moto's S3 server for `make sam-local` (see infra/sam_local.py): the functions run in
# containers, so the S3 they call must be reachable on a Docker network. Published on
# the host at 127.0.0.1 only.
FROM public.ecr.aws/lambda/python:3.13
COPY requirements-moto.txt /tmp/requirements-moto.txt
RUN pip install --no-cache-dir --require-hashes -r /tmp/requirements-moto.txt
EXPOSE 5000
ENTRYPOINT ["python", "-m", "moto.server", "--host", "0.0.0.0", "--port", "5000"]
