; Inno Setup script: a per-user RouteDesk installer (no administrator rights needed),
; with a Start-menu entry and an uninstaller.
;
; Build dist\RouteDesk\ first (bash packaging/build.sh, or PyInstaller on the spec), then:
;   iscc /DAppVersion=0.1.0 packaging\windows\routedesk.iss
; Output: dist\RouteDesk-<version>-windows-x86_64-setup.exe
; Needs Inno Setup 6.3 or later. Paths below are relative to this file's folder.

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#define AppName "RouteDesk"
#define AppExe "RouteDesk.exe"

[Setup]
AppId={{34DCA686-150E-4934-A1A2-15EC2DA2983B}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=RouteDesk
VersionInfoVersion={#AppVersion}
; Per user: %LOCALAPPDATA%\Programs\RouteDesk (user data lives apart, in %LOCALAPPDATA%\RouteDesk).
PrivilegesRequired=lowest
DefaultDirName={userpf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
DisableDirPage=auto
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
SourceDir=..\..
OutputDir=dist
OutputBaseFilename={#AppName}-{#AppVersion}-windows-x86_64-setup
SetupIconFile=build\pyinstaller\routedesk\icons\routedesk.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName}
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
CloseApplications=yes

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[InstallDelete]
; An update replaces the app folder whole, so no stale library from an older version stays.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "dist\RouteDesk\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"; Comment: "Chat with LLMs, routed by cost"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; Only the app folder: conversations (%LOCALAPPDATA%\RouteDesk) and keys (Credential Manager) stay.
Type: filesandordirs; Name: "{app}"
