# Onboarding wrapper for PowerShell: checks that cargo is present, then runs
# `cargo xtask onboard` with the arguments given and passes its exit status on.
# Usage: .\scripts\onboard.ps1 --local --yes
#        .\scripts\onboard.ps1 --password-from aws-secret:dev/summitly/db --yes   (every flag is passed on)
if (-not (Get-Command cargo -ErrorAction SilentlyContinue)) {
    Write-Error "cargo is not installed. Install Rust from https://rustup.rs (rustup-init.exe), then run this again."
    exit 2
}
Push-Location (Join-Path $PSScriptRoot "..")
try {
    & cargo xtask onboard @args
    $code = $LASTEXITCODE
} finally {
    Pop-Location
}
exit $code
