# syntax=docker/dockerfile:1
# Multi-stage build: the SDK image builds and publishes; the ASP.NET runtime image runs as non-root.
#   docker build -t mlplatform .
#   docker run -p 8000:8000 -v mlplatform-data:/data mlplatform
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# Restore first, from the project files only, so the layer is reused while only code changes.
COPY global.json Directory.Build.props Directory.Packages.props MlPlatform.sln ./
COPY src/MlPlatform.SharedKernel/*.csproj src/MlPlatform.SharedKernel/
COPY src/MlPlatform.Host/*.csproj src/MlPlatform.Host/
COPY src/Modules/ /tmp/modules/
RUN cd /tmp/modules && find . -name '*.csproj' -exec install -D {} /src/src/Modules/{} \; && rm -rf /tmp/modules
COPY migrations/MlPlatform.Migrations.Sqlite/*.csproj migrations/MlPlatform.Migrations.Sqlite/
COPY migrations/MlPlatform.Migrations.PostgreSql/*.csproj migrations/MlPlatform.Migrations.PostgreSql/
RUN dotnet restore src/MlPlatform.Host/MlPlatform.Host.csproj
COPY appsettings.json ./
COPY src/ src/
COPY migrations/ migrations/
RUN dotnet publish src/MlPlatform.Host/MlPlatform.Host.csproj -c Release --no-restore -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
WORKDIR /app
COPY --from=build /app ./
# The data directory (SQLite files, local artifacts) is a volume owned by the non-root user.
RUN mkdir -p /data && chown app:app /data
VOLUME ["/data"]
ENV Urls=http://+:8000 \
    Platform__DataDirectory=/data \
    Logging__Format=Json \
    AWS_EC2_METADATA_DISABLED=true
EXPOSE 8000
USER app
# The image has no curl: the binary checks its own readiness endpoint.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["dotnet", "MlPlatform.Host.dll", "healthcheck", "http://127.0.0.1:8000/health/ready"]
ENTRYPOINT ["dotnet", "MlPlatform.Host.dll"]
