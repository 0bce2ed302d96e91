import type { Client } from '../../db/schema.ts';

/**
 * The integration page's code: short, working examples for the libraries the province's software
 * uses, filled in with the app's real values. Each value goes into its language's string syntax
 * (a JSON string is valid JavaScript, YAML and C#; PHP's single quotes escape only \ and '), and
 * the page escapes the whole snippet again as HTML.
 */
export interface Snippet {
  readonly id: 'node' | 'php' | 'java' | 'dotnet';
  readonly label: string;
  readonly file: string;
  readonly code: string;
}

export interface IntegrationValues {
  readonly issuer: string;
  readonly discoveryUrl: string;
  readonly clientId: string;
  readonly redirectUri: string | null;
  readonly scope: string;
  readonly confidential: boolean;
  readonly service: boolean;
}

export function integrationValues(issuer: string, client: Client): IntegrationValues {
  const metadata = client.metadata;
  const redirectUris = Array.isArray(metadata['redirect_uris']) ? (metadata['redirect_uris'] as string[]) : [];
  const grants = Array.isArray(metadata['grant_types']) ? (metadata['grant_types'] as string[]) : [];
  return {
    issuer,
    discoveryUrl: `${issuer}/.well-known/openid-configuration`,
    clientId: client.client_id,
    redirectUri: redirectUris[0] ?? null,
    scope: typeof metadata['scope'] === 'string' ? metadata['scope'] : 'openid profile email',
    confidential: metadata['token_endpoint_auth_method'] !== 'none',
    service: grants.length > 0 && grants.every((grant) => grant === 'client_credentials'),
  };
}

const js = (value: string) => JSON.stringify(value);
const php = (value: string) => `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

export function integrationSnippets(values: IntegrationValues): Snippet[] {
  const { issuer, clientId, scope, confidential } = values;
  const redirectUri = values.redirectUri ?? `${issuer}/callback`;
  const scopes = scope.split(' ');
  if (values.service) return serviceSnippets(values);
  return [
    {
      id: 'node', label: 'Node.js (openid-client 6)', file: 'login.mjs',
      code: `import * as client from 'openid-client';

const config = await client.discovery(
  new URL(${js(issuer)}),
  ${js(clientId)},
  ${confidential ? 'process.env.MEKONG_CLIENT_SECRET,' : 'undefined,\n  client.None(),'}
);
const redirectUri = ${js(redirectUri)};

// 1. Send the browser to sign in; keep codeVerifier and state in the session.
const codeVerifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const signInUrl = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri,
  scope: ${js(scope)},
  code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
  code_challenge_method: 'S256',
  state,
});

// 2. Back at redirectUri (currentRequestUrl is the full URL the browser came back to): trade the code for tokens.
const tokens = await client.authorizationCodeGrant(config, new URL(currentRequestUrl), {
  pkceCodeVerifier: codeVerifier,
  expectedState: state,
});
console.log(tokens.claims());`,
    },
    {
      id: 'php', label: 'PHP (jumbojett/openid-connect-php)', file: 'login.php',
      code: `<?php
use Jumbojett\\OpenIDConnectClient;

$oidc = new OpenIDConnectClient(
    ${php(issuer)},
    ${php(clientId)},
    ${confidential ? "getenv('MEKONG_CLIENT_SECRET')" : 'null'}
);
$oidc->setRedirectURL(${php(redirectUri)});
$oidc->addScope([${scopes.filter((item) => item !== 'openid').map(php).join(', ')}]);
$oidc->setCodeChallengeMethod('S256');
$oidc->authenticate();

$name = $oidc->requestUserInfo('name');`,
    },
    {
      id: 'java', label: 'Java (Spring Security)', file: 'application.yml',
      code: springSecurityYaml(issuer, clientId, [
        confidential ? 'client-secret: "${MEKONG_CLIENT_SECRET}"' : 'client-authentication-method: none',
        'authorization-grant-type: authorization_code',
        `redirect-uri: ${js(redirectUri)}`,
        `scope: [${scopes.join(', ')}]`,
      ]),
    },
    {
      id: 'dotnet', label: '.NET (AddOpenIdConnect)', file: 'Program.cs',
      code: `builder.Services
    .AddAuthentication(options =>
    {
        options.DefaultScheme = CookieAuthenticationDefaults.AuthenticationScheme;
        options.DefaultChallengeScheme = OpenIdConnectDefaults.AuthenticationScheme;
    })
    .AddCookie()
    .AddOpenIdConnect(options =>
    {
        options.Authority = ${js(issuer)};
        options.ClientId = ${js(clientId)};
${confidential ? '        options.ClientSecret = builder.Configuration["Mekong:ClientSecret"];\n' : ''}        options.ResponseType = "code";
        options.UsePkce = true;
        options.CallbackPath = ${js(URL.canParse(redirectUri) ? new URL(redirectUri).pathname : '/signin-oidc')};
${scopes.filter((item) => item !== 'openid').map((item) => `        options.Scope.Add(${js(item)});\n`).join('')}${issuer.startsWith('http:') ? '        options.RequireHttpsMetadata = false; // only for a development issuer on http\n' : ''}    });`,
    },
  ];
}

/** Spring Boot's client registration, named mekong, with the settings of this kind of app. */
function springSecurityYaml(issuer: string, clientId: string, settings: readonly string[]): string {
  return `spring:
  security:
    oauth2:
      client:
        registration:
          mekong:
            client-id: ${js(clientId)}
${settings.map((setting) => `            ${setting}\n`).join('')}        provider:
          mekong:
            issuer-uri: ${js(issuer)}`;
}

/** A service calls APIs in its own name: client credentials, no browser. */
function serviceSnippets({ issuer, clientId }: IntegrationValues): Snippet[] {
  return [
    {
      id: 'node', label: 'Node.js (openid-client 6)', file: 'token.mjs',
      code: `import * as client from 'openid-client';

const config = await client.discovery(new URL(${js(issuer)}), ${js(clientId)}, process.env.MEKONG_CLIENT_SECRET);
const tokens = await client.clientCredentialsGrant(config);
console.log(tokens.access_token);`,
    },
    {
      id: 'php', label: 'PHP (jumbojett/openid-connect-php)', file: 'token.php',
      code: `<?php
use Jumbojett\\OpenIDConnectClient;

$oidc = new OpenIDConnectClient(${php(issuer)}, ${php(clientId)}, getenv('MEKONG_CLIENT_SECRET'));
$token = $oidc->requestClientCredentialsToken()->access_token;`,
    },
    {
      id: 'java', label: 'Java (Spring Security)', file: 'application.yml',
      code: springSecurityYaml(issuer, clientId, ['client-secret: "${MEKONG_CLIENT_SECRET}"', 'authorization-grant-type: client_credentials']),
    },
    {
      id: 'dotnet', label: '.NET (HttpClient)', file: 'Program.cs',
      code: `var http = new HttpClient();
var response = await http.PostAsync(${js(`${issuer}/token`)}, new FormUrlEncodedContent(new Dictionary<string, string>
{
    ["grant_type"] = "client_credentials",
    ["client_id"] = ${js(clientId)},
    ["client_secret"] = builder.Configuration["Mekong:ClientSecret"]!,
}));`,
    },
  ];
}
